//! Records of the Android channel: a lender's settings and each phone's state with the
//! Device Lock Controller (migration 0009).

use lienlock_domain::android::{AndroidDeviceConfig, AndroidSettings, ProvisionState};
use lienlock_domain::{DeviceId, LenderId, Timestamp};

/// A lender's Android settings and the hash of its check-in key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AndroidSettingsRecord {
    /// The lender.
    pub lender_id: LenderId,
    /// What its phones provision with.
    pub settings: AndroidSettings,
    /// SHA-256 of the key phones present in the configured metadata header; `None` until one
    /// is issued.
    pub key_hash: Option<[u8; 32]>,
    /// Last change.
    pub updated_at: Timestamp,
}

/// Which half of an [`AndroidDeviceRecord`] a save writes. A lender's choices and what the
/// phone reported are changed by different requests, each of which read the whole record
/// first: writing back only its own half, neither overwrites a change the other made in the
/// meantime (a lender's acknowledged `hold` lost to a phone's check-in, or a phone's push
/// token to a lender's edit). A record saved for the first time is written whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AndroidPart {
    /// `config`: the lender's choices.
    Config,
    /// Everything the phone's calls record: provisioning state, check-ins, pause, push
    /// token, identifier, program completion.
    Phone,
}

/// One phone's state on the Android channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AndroidDeviceRecord {
    /// The device.
    pub device_id: DeviceId,
    /// Its lender.
    pub lender_id: LenderId,
    /// The lender's choices for this phone.
    pub config: AndroidDeviceConfig,
    /// What the phone was last told after a provisioning report.
    pub provision_state: ProvisionState,
    /// When the current run of failed provisionings began; `None` after a success.
    pub failing_since: Option<Timestamp>,
    /// The last check-in.
    pub last_checkin_at: Option<Timestamp>,
    /// The borrower postponed provisioning at this time.
    pub paused_at: Option<Timestamp>,
    /// The phone's Firebase Cloud Messaging token.
    pub fcm_token: Option<String>,
    /// The identifier the phone was last told to use.
    pub registered_identifier: Option<String>,
    /// The phone reported that its program is complete.
    pub program_complete_at: Option<Timestamp>,
    /// Last change.
    pub updated_at: Timestamp,
}

impl AndroidDeviceRecord {
    /// The record of a phone never seen on the channel.
    pub fn new(device_id: DeviceId, lender_id: LenderId, now: Timestamp) -> Self {
        Self {
            device_id,
            lender_id,
            config: AndroidDeviceConfig::default(),
            provision_state: ProvisionState::Unspecified,
            failing_since: None,
            last_checkin_at: None,
            paused_at: None,
            fcm_token: None,
            registered_identifier: None,
            program_complete_at: None,
            updated_at: now,
        }
    }
}
