//! Building and signing the lease a device receives.

use lienlock_domain::{
    ComplianceProfile, KeyStatus, LeaseState, OfflinePolicy, RestrictionLevel, RestrictionProfile,
    Timestamp,
};
use lienlock_store::{Device, Lender};
use lienlock_wire::{
    CheckIn, CheckInVersion, Lease, LeaseNotice, LockScreen, ServerKey, UnsignedLease,
};

/// How long leases last and how often devices check in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseSettings {
    /// The longest any lease lasts. An active lease lasts the lender's offline policy
    /// ("lock after N days without a check-in", 3 to 200 days) up to this; a locked one
    /// this long. The default, 200 days, never cuts a lender's policy short; an operator
    /// lowers it only to bound every lender (or for a demo).
    pub lease_ttl_secs: i64,
    /// How often devices are asked to check in.
    pub checkin_interval_secs: i64,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self {
            lease_ttl_secs: 200 * 24 * 3600,
            checkin_interval_secs: 15 * 60,
        }
    }
}

/// What a lease carries besides the device's state: notices still to show, and the
/// highest unlock-code counter issued so far.
pub(super) struct Owed {
    pub(super) notices: Vec<LeaseNotice>,
    pub(super) codes_through: u32,
}

/// The lease answering `checkin` for `device` as it stands at `now`, encoded, and the key
/// that is to sign it (the caller signs: alone, or in a batch). It names the IMEI and
/// key the device checked in with (a dual-SIM phone may use either IMEI), so the agent can
/// check the lease is its own.
///
/// While the server's key rotates, the key that signs and the key announced follow what
/// the device says it trusts (see [`ServerKey::for_device`]): a version 3 or 4 check-in
/// names its newest trusted key, a version 2 agent names none and can read no announcement
/// (so it gets a version 3 lease from the current key).
pub(super) fn build<'a>(
    key: &'a ServerKey,
    settings: &LeaseSettings,
    lender: &Lender,
    device: &Device,
    checkin: &CheckIn,
    owed: Owed,
    now: Timestamp,
) -> (UnsignedLease, &'a ServerKey) {
    let trusted = match checkin.version {
        CheckInVersion::V2 => None,
        CheckInVersion::V3 | CheckInVersion::V4 | CheckInVersion::V5 => {
            Some(checkin.server_key_id.unwrap_or(key.id()))
        }
    };
    let (signer, next_key) = key.for_device(trusted);
    let ttl = now.plus_secs(settings.lease_ttl_secs);
    // An active lease lasts the lender's offline days (capped by the server's TTL): every
    // check-in renews it, so only a phone that has not reached the server for that long
    // locks, and an outage shorter than that locks no paid-up phone.
    let offline = offline_policy(lender);
    let active_until = now.plus_secs(offline.lease_secs().min(settings.lease_ttl_secs));
    let locked_message = || {
        if device.key_status == KeyStatus::ChangePending {
            format!(
                "This phone's security key changed. Contact {} to confirm the phone is yours.",
                lender.name
            )
        } else {
            lender.lock_message.clone()
        }
    };
    // The lender's decision (and an unapproved key) comes first; within an active account
    // the policy engine's automatic level decides between running with a reminder or
    // banner and a restricted or locked device.
    let (state, profile, valid_until, message) =
        match LeaseState::derive(device.state, device.key_status) {
            // Released is for ever: the lease never expires.
            LeaseState::Released => (
                LeaseState::Released,
                RestrictionProfile::unrestricted(),
                Timestamp::from_millis(i64::MAX),
                "This phone is paid off and free of any lock.".into(),
            ),
            LeaseState::Locked => (
                LeaseState::Locked,
                lender.lock_profile,
                ttl,
                locked_message(),
            ),
            LeaseState::Active => match device.policy_level {
                RestrictionLevel::FullLock => (
                    LeaseState::Locked,
                    lender.lock_profile,
                    ttl,
                    locked_message(),
                ),
                RestrictionLevel::RestrictedApps => (
                    LeaseState::Locked,
                    RestrictionProfile::preset(RestrictionLevel::RestrictedApps),
                    ttl,
                    locked_message(),
                ),
                level => (
                    LeaseState::Active,
                    RestrictionProfile::preset(level),
                    active_until,
                    String::new(),
                ),
            },
        };
    let lease = Lease {
        key_id: signer.id(),
        device_id: device.id,
        imei: checkin.imei,
        device_key: checkin.device_key,
        sequence: device.lease_seq,
        state,
        issued_at: now,
        valid_until,
        next_checkin_at: now.plus_secs(settings.checkin_interval_secs),
        in_reply_to: checkin.counter,
        profile,
        lock_screen: LockScreen {
            lender_name: lender.name.clone(),
            support_phone: lender.support_phone.clone(),
            support_url: lender.support_url.clone(),
            message,
            amount_due: amount_due(device, state),
        },
        notices: owed.notices,
        warn_at: if state == LeaseState::Active {
            valid_until.plus_secs(-offline.warn_secs()).max(now)
        } else {
            valid_until
        },
        codes_through: owed.codes_through,
        next_key,
    };
    // A version 4 agent reads only the signed bytes; older ones get the readable copy
    // they always had.
    let unsigned = if checkin.version.takes_batch_signatures() {
        UnsignedLease::bare(&lease)
    } else {
        UnsignedLease::new(&lease)
    };
    (unsigned, signer)
}

/// What the lock screen says is overdue ("KES 1,500.00"): the arrears the last evaluation
/// saw, and nothing once the phone is released (it owes nothing the phone could be held
/// for).
fn amount_due(device: &Device, state: LeaseState) -> String {
    match (state, device.arrears) {
        (LeaseState::Released, _) | (_, None) => String::new(),
        (_, Some(a)) => a.amount.grouped(),
    }
}

/// The lender's offline policy: its own settings, else its profile's defaults. A profile
/// name the code no longer knows falls back to the built-in default rather than leaving
/// the phone without a lease.
fn offline_policy(lender: &Lender) -> OfflinePolicy {
    match (
        &lender.policy,
        ComplianceProfile::by_name(&lender.compliance_profile),
    ) {
        (Some(p), _) => p.offline,
        (None, Ok(profile)) => profile.defaults.offline,
        (None, Err(_)) => OfflinePolicy::DEFAULT,
    }
}
