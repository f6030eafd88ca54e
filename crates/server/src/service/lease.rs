//! Building and signing the lease a device receives.

use lienlock_domain::{KeyStatus, LeaseState, RestrictionProfile, Timestamp};
use lienlock_store::{Device, Lender};
use lienlock_wire::{CheckIn, Lease, LeaseEnvelope, LockScreen, ServerKey};

/// How long leases last and how often devices check in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseSettings {
    /// How long an active lease lets a device run without reaching the server. Long, so a
    /// server or network outage never locks a paid-up phone.
    pub lease_ttl_secs: i64,
    /// How often devices are asked to check in.
    pub checkin_interval_secs: i64,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self {
            lease_ttl_secs: 7 * 24 * 3600,
            checkin_interval_secs: 15 * 60,
        }
    }
}

/// The lease answering `checkin` for `device` as it stands at `now`. It names the IMEI and
/// key the device checked in with (a dual-SIM phone may use either IMEI), so the agent can
/// check the lease is its own.
pub(super) fn build(
    signer: &ServerKey,
    settings: &LeaseSettings,
    lender: &Lender,
    device: &Device,
    checkin: &CheckIn,
    now: Timestamp,
) -> LeaseEnvelope {
    let state = LeaseState::derive(device.state, device.key_status);
    let (profile, valid_until, message) = match state {
        LeaseState::Active => (
            RestrictionProfile::unrestricted(),
            now.plus_secs(settings.lease_ttl_secs),
            String::new(),
        ),
        LeaseState::Locked => {
            let message = if device.key_status == KeyStatus::ChangePending {
                format!(
                    "This phone's security key changed. Contact {} to confirm the phone is yours.",
                    lender.name
                )
            } else {
                lender.lock_message.clone()
            };
            (
                lender.lock_profile,
                now.plus_secs(settings.lease_ttl_secs),
                message,
            )
        }
        // Released is for ever: the lease never expires.
        LeaseState::Released => (
            RestrictionProfile::unrestricted(),
            Timestamp::from_millis(i64::MAX),
            "This phone is paid off and free of any lock.".into(),
        ),
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
        },
    };
    LeaseEnvelope::seal(&lease, signer)
}
