//! What the device must do right now, decided from the held lease and the time.

use crate::codes::Grant;
use lienlock_domain::{LeaseState, RestrictionLevel, RestrictionProfile, Timestamp};
use lienlock_wire::unlock_code::CodeKind;
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
        /// The counter of the unlock code this runs on, when the held lease alone would
        /// have locked or ended sooner.
        code: Option<u32>,
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
            code: None,
        },
    }
}

/// Lays an unlock code's grant over the lease's decision at trusted time `now`. The grant
/// only ever loosens: it keeps a phone running past an expired lease (either kind) and lifts
/// a lender's lock (an `Unlock` code only), until `grant.until`. A release stays a release.
/// The offline warning keeps the lease's lead time before the grant ends.
pub fn with_grant(
    decided: Enforcement,
    grant: Option<Grant>,
    held: Option<&Lease>,
    now: Timestamp,
) -> Enforcement {
    let Some(g) = grant.filter(|g| g.until > now) else {
        return decided;
    };
    let warn_lead = held.map_or(0, |l| {
        (l.valid_until.as_millis() - l.warn_at.as_millis()).max(0)
    });
    let run = |level, notices: Vec<LeaseNotice>| {
        let warn_at = g.until.plus_millis(-warn_lead);
        Enforcement::Run {
            valid_until: g.until,
            next_checkin_at: held.map_or(now, |l| l.next_checkin_at),
            level,
            notices,
            warn_at,
            offline_warning: now >= warn_at,
            code: Some(g.counter),
        }
    };
    match decided {
        Enforcement::Run { valid_until, .. } if valid_until >= g.until => decided,
        Enforcement::Run { level, notices, .. } => run(level, notices),
        Enforcement::Locked {
            why: LockReason::Lender,
            ..
        } if g.kind != CodeKind::Unlock => decided,
        Enforcement::Locked {
            why: LockReason::LeaseExpired,
            notices,
            ..
        } => run(
            held.map_or(RestrictionLevel::None, |l| {
                if l.state == LeaseState::Active {
                    l.profile.level()
                } else {
                    RestrictionLevel::None
                }
            }),
            notices,
        ),
        Enforcement::Locked { notices, .. } => run(RestrictionLevel::None, notices),
        Enforcement::Free => Enforcement::Free,
    }
}
