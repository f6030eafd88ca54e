//! What the device must do right now, decided from the held lease and the time.

use lienlock_domain::{LeaseState, RestrictionLevel, RestrictionProfile, Timestamp};
use lienlock_wire::{Lease, LeaseNotice, LockScreen};
use serde::Serialize;

/// The device's orders at one moment. The platform layer (device policy, lock screen)
/// applies it; the agent only decides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Enforcement {
    /// Released: never enforce anything again.
    Free,
    /// Run normally until `valid_until`.
    Run {
        /// When the held lease runs out unless a newer one arrives.
        valid_until: Timestamp,
        /// When the server asked to be contacted again.
        next_checkin_at: Timestamp,
        /// Reminder or persistent banner while running (nothing is restricted).
        level: RestrictionLevel,
        /// Reminders and notices to show.
        notices: Vec<LeaseNotice>,
        /// When the offline warning starts (the lease's `warn_at`).
        warn_at: Timestamp,
        /// Show the offline warning now: "no connection; this phone locks at `valid_until`
        /// unless it connects or a code from a payment receipt is entered".
        offline_warning: bool,
    },
    /// Apply `profile` and show the lock screen.
    Locked {
        /// Why.
        why: LockReason,
        /// What to show; `None` when no lease is held, so there is nothing signed to show.
        lock_screen: Option<LockScreen>,
        /// What to restrict. Protected capabilities (emergency calls, network, the lender's
        /// app, ...) are allowed by every profile by construction.
        profile: RestrictionProfile,
        /// Reminders and notices to show (none without a lease).
        notices: Vec<LeaseNotice>,
    },
}

/// Why the device is locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockReason {
    /// The lender locked it (the held lease says locked).
    Lender,
    /// The held lease ran out without a newer one.
    LeaseExpired,
    /// No valid lease is held (new device, factory reset, damaged lease file).
    NoLease,
}

impl Enforcement {
    /// Whether anything is restricted.
    pub fn is_locked(&self) -> bool {
        matches!(self, Enforcement::Locked { .. })
    }

    /// When this decision changes by itself (the offline warning starts, or the lease runs
    /// out), if it does.
    pub fn expires_at(&self) -> Option<Timestamp> {
        match self {
            Enforcement::Run {
                valid_until,
                warn_at,
                offline_warning: false,
                ..
            } if warn_at < valid_until => Some(*warn_at),
            Enforcement::Run { valid_until, .. } => Some(*valid_until),
            _ => None,
        }
    }
}

/// Decides enforcement at trusted time `now`. A lease is expired from `valid_until` on.
///
/// A lender lock stays a lender lock after its lease expires: the reason shown is the more
/// useful one and the restrictions are the lender's. An active lease that expires applies
/// its own profile, except that a profile of level `None` (which an active lease may well
/// carry) would make expiry toothless, so the full lock applies instead.
pub fn decide(released: bool, held: Option<&Lease>, now: Timestamp) -> Enforcement {
    if released {
        return Enforcement::Free;
    }
    let Some(lease) = held else {
        return Enforcement::Locked {
            why: LockReason::NoLease,
            lock_screen: None,
            profile: RestrictionProfile::full_lock(),
            notices: Vec::new(),
        };
    };
    match lease.state {
        LeaseState::Released => Enforcement::Free,
        LeaseState::Locked => Enforcement::Locked {
            why: LockReason::Lender,
            lock_screen: Some(lease.lock_screen.clone()),
            profile: lease.profile,
            notices: lease.notices.clone(),
        },
        LeaseState::Active if now >= lease.valid_until => Enforcement::Locked {
            why: LockReason::LeaseExpired,
            lock_screen: Some(lease.lock_screen.clone()),
            profile: if lease.profile.level() == RestrictionLevel::None {
                RestrictionProfile::full_lock()
            } else {
                lease.profile
            },
            notices: lease.notices.clone(),
        },
        LeaseState::Active => Enforcement::Run {
            valid_until: lease.valid_until,
            next_checkin_at: lease.next_checkin_at,
            level: lease.profile.level(),
            notices: lease.notices.clone(),
            warn_at: lease.warn_at,
            offline_warning: now >= lease.warn_at,
        },
    }
}
