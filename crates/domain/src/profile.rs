//! Restriction profiles: what a locked (or reminded) device restricts, as data.
//!
//! The promise to borrowers is that emergency calls, incoming calls, public-safety alerts,
//! the network and the lender's payment/support app are never blocked. That promise lives in
//! this type, not in a check somewhere else: a profile is a set of *restrictable*
//! capabilities, the protected ones have no bit in its encoding, and every way to build a
//! profile (constructor, wire bytes, JSON) refuses to name them. Network access is protected
//! because a borrower who cannot reach the server or the payment app cannot pay to unlock.

use serde::{Deserialize, Serialize};

/// Something a phone can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Calling emergency numbers. Protected.
    EmergencyCalls,
    /// Receiving calls. Protected.
    IncomingCalls,
    /// Cell broadcast and public-safety alerts. Protected.
    PublicSafetyAlerts,
    /// Mobile data and Wi-Fi. Protected: the agent and the payment app need them to unlock.
    Network,
    /// The lender's payment and support app. Protected.
    LenderApp,
    /// Placing non-emergency calls.
    OutgoingCalls,
    /// Sending SMS and MMS.
    Messaging,
    /// Apps other than the lender's and the system's essentials.
    OtherApps,
    /// Installing or updating apps.
    AppInstalls,
    /// Changing system settings.
    Settings,
    /// The camera.
    Camera,
}

impl Capability {
    /// Every capability, protected ones first.
    pub const ALL: [Capability; 11] = [
        Capability::EmergencyCalls,
        Capability::IncomingCalls,
        Capability::PublicSafetyAlerts,
        Capability::Network,
        Capability::LenderApp,
        Capability::OutgoingCalls,
        Capability::Messaging,
        Capability::OtherApps,
        Capability::AppInstalls,
        Capability::Settings,
        Capability::Camera,
    ];

    /// Protected capabilities can never be restricted.
    pub fn is_protected(self) -> bool {
        self.bit().is_none()
    }

    /// The capability's bit in a profile's restriction mask; `None` for protected ones,
    /// which therefore cannot be expressed in a mask at all.
    fn bit(self) -> Option<u32> {
        match self {
            Capability::EmergencyCalls
            | Capability::IncomingCalls
            | Capability::PublicSafetyAlerts
            | Capability::Network
            | Capability::LenderApp => None,
            Capability::OutgoingCalls => Some(1 << 0),
            Capability::Messaging => Some(1 << 1),
            Capability::OtherApps => Some(1 << 2),
            Capability::AppInstalls => Some(1 << 3),
            Capability::Settings => Some(1 << 4),
            Capability::Camera => Some(1 << 5),
        }
    }
}

/// How hard the device is restricted, from a quiet reminder to a full lock (graduated).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestrictionLevel {
    /// Nothing shown.
    None,
    /// A dismissible reminder.
    Reminder,
    /// A banner that stays.
    PersistentBanner,
    /// Some apps blocked.
    RestrictedApps,
    /// The lock screen.
    FullLock,
}

impl RestrictionLevel {
    /// The byte used on the wire.
    pub fn code(self) -> u8 {
        match self {
            RestrictionLevel::None => 0,
            RestrictionLevel::Reminder => 1,
            RestrictionLevel::PersistentBanner => 2,
            RestrictionLevel::RestrictedApps => 3,
            RestrictionLevel::FullLock => 4,
        }
    }

    /// Reads [`Self::code`] back.
    pub fn from_code(b: u8) -> Option<Self> {
        Some(match b {
            0 => RestrictionLevel::None,
            1 => RestrictionLevel::Reminder,
            2 => RestrictionLevel::PersistentBanner,
            3 => RestrictionLevel::RestrictedApps,
            4 => RestrictionLevel::FullLock,
            _ => return None,
        })
    }
}

/// Why a profile cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// Tried to restrict something borrowers are promised.
    #[error("{0:?} can never be restricted")]
    Protected(Capability),
    /// A mask with bits that name no restrictable capability.
    #[error("unknown restriction bits {0:#x}")]
    UnknownBits(u32),
    /// A level code that does not exist.
    #[error("unknown restriction level {0}")]
    UnknownLevel(u8),
}

/// A level and the capabilities it restricts. Fields are private: the only ways in are
/// [`RestrictionProfile::new`], [`RestrictionProfile::from_wire`] and serde, all of which
/// refuse protected capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "ProfileRepr", into = "ProfileRepr")]
pub struct RestrictionProfile {
    level: RestrictionLevel,
    mask: u32,
}

/// What a profile looks like in JSON and lender configuration.
#[derive(Serialize, Deserialize)]
struct ProfileRepr {
    level: RestrictionLevel,
    restricts: Vec<Capability>,
}

impl RestrictionProfile {
    /// A profile restricting exactly `restricts`, refused if any of them is protected.
    pub fn new(
        level: RestrictionLevel,
        restricts: impl IntoIterator<Item = Capability>,
    ) -> Result<Self, ProfileError> {
        let mut mask = 0;
        for c in restricts {
            mask |= c.bit().ok_or(ProfileError::Protected(c))?;
        }
        Ok(Self { level, mask })
    }

    /// No restriction at all.
    pub fn unrestricted() -> Self {
        Self {
            level: RestrictionLevel::None,
            mask: 0,
        }
    }

    /// The default lock: everything that may be restricted is.
    pub fn full_lock() -> Self {
        let mask = Capability::ALL
            .iter()
            .filter_map(|c| c.bit())
            .fold(0, |a, b| a | b);
        Self {
            level: RestrictionLevel::FullLock,
            mask,
        }
    }

    /// The standard profile of each level of the graduated scale: nothing restricted for
    /// reminders and banners, other apps and installs for restricted apps, everything
    /// restrictable for a full lock.
    pub fn preset(level: RestrictionLevel) -> Self {
        match level {
            RestrictionLevel::FullLock => Self::full_lock(),
            RestrictionLevel::RestrictedApps => Self {
                level,
                mask: Capability::OtherApps.bit().unwrap_or(0)
                    | Capability::AppInstalls.bit().unwrap_or(0),
            },
            _ => Self { level, mask: 0 },
        }
    }

    /// The level.
    pub fn level(&self) -> RestrictionLevel {
        self.level
    }

    /// Whether the device may use `capability` under this profile. Always true for the
    /// protected capabilities.
    pub fn allows(&self, capability: Capability) -> bool {
        match capability.bit() {
            None => true,
            Some(bit) => self.mask & bit == 0,
        }
    }

    /// The restricted capabilities, in [`Capability::ALL`] order.
    pub fn restricts(&self) -> Vec<Capability> {
        Capability::ALL
            .into_iter()
            .filter(|c| !self.allows(*c))
            .collect()
    }

    /// `(level code, restriction mask)` as carried in a signed lease.
    pub fn to_wire(&self) -> (u8, u32) {
        (self.level.code(), self.mask)
    }

    /// Reads [`Self::to_wire`] back, refusing unknown bits and levels.
    pub fn from_wire(level: u8, mask: u32) -> Result<Self, ProfileError> {
        let level = RestrictionLevel::from_code(level).ok_or(ProfileError::UnknownLevel(level))?;
        let known = Self::full_lock().mask;
        if mask & !known != 0 {
            return Err(ProfileError::UnknownBits(mask & !known));
        }
        Ok(Self { level, mask })
    }
}

impl TryFrom<ProfileRepr> for RestrictionProfile {
    type Error = ProfileError;
    fn try_from(r: ProfileRepr) -> Result<Self, Self::Error> {
        Self::new(r.level, r.restricts)
    }
}

impl From<RestrictionProfile> for ProfileRepr {
    fn from(p: RestrictionProfile) -> Self {
        ProfileRepr {
            level: p.level,
            restricts: p.restricts(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PROTECTED: [Capability; 5] = [
        Capability::EmergencyCalls,
        Capability::IncomingCalls,
        Capability::PublicSafetyAlerts,
        Capability::Network,
        Capability::LenderApp,
    ];

    #[test]
    fn a_profile_blocking_a_protected_capability_cannot_be_built() {
        for c in PROTECTED {
            assert_eq!(
                RestrictionProfile::new(RestrictionLevel::FullLock, [Capability::Camera, c]),
                Err(ProfileError::Protected(c))
            );
        }
    }

    #[test]
    fn json_naming_a_protected_capability_is_refused() {
        let e = serde_json::from_str::<RestrictionProfile>(
            r#"{"level":"full_lock","restricts":["other_apps","emergency_calls"]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("can never be restricted"), "{e}");
    }

    #[test]
    fn full_lock_still_allows_every_protected_capability() {
        let p = RestrictionProfile::full_lock();
        for c in PROTECTED {
            assert!(p.allows(c));
        }
        assert!(!p.allows(Capability::OtherApps));
    }

    proptest! {
        /// Whatever bits arrive on the wire, a profile that decodes allows every protected
        /// capability.
        #[test]
        fn every_decodable_profile_allows_protected(level in 0u8..8, mask in any::<u32>()) {
            if let Ok(p) = RestrictionProfile::from_wire(level, mask) {
                for c in PROTECTED {
                    prop_assert!(p.allows(c));
                }
                prop_assert_eq!(RestrictionProfile::from_wire(p.to_wire().0, p.to_wire().1), Ok(p));
            }
        }

        #[test]
        fn any_subset_of_capabilities_either_builds_safely_or_names_a_protected_one(
            picks in proptest::collection::vec(0usize..11, 0..11)
        ) {
            let caps: Vec<_> = picks.iter().map(|i| Capability::ALL[*i]).collect();
            match RestrictionProfile::new(RestrictionLevel::RestrictedApps, caps.clone()) {
                Ok(p) => {
                    for c in PROTECTED { prop_assert!(p.allows(c)); }
                    for c in caps { prop_assert!(!p.allows(c)); }
                }
                Err(ProfileError::Protected(c)) => prop_assert!(caps.contains(&c) && c.is_protected()),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
    }
}
