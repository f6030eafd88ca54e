//! The rules behind lienlock's answers to Android's Device Lock Controller (the system
//! component of Android 14 and later that provisions a financed phone from the lender's
//! server). The gRPC layer translates; what to answer is decided here, without I/O.

use crate::device::DeviceState;
use crate::imei::Imei;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// When the phone provisions: during the setup wizard, or after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvisionType {
    /// After the setup wizard; the borrower may postpone it.
    Deferred,
    /// During the setup wizard.
    Mandatory,
}

/// A lender's configuration of the Android channel: what its phones provision with and how
/// failures are treated. Stored as JSON; new fields need a serde default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndroidSettings {
    /// The name shown for the kiosk app's provider (the lender, usually).
    pub kiosk_app_provider_name: String,
    /// The lender's kiosk app, installed from the Play Store by the phone: `com.acme.pay`.
    pub kiosk_app_package: String,
    /// Its activity run in lock-task mode when the phone is locked.
    pub kiosk_app_main_activity: String,
    /// Further packages allowed while locked (the dialer and emergency alerts always are).
    #[serde(default)]
    pub kiosk_app_allowlist_packages: Vec<String>,
    /// Whether the locked phone may place outgoing calls.
    #[serde(default)]
    pub kiosk_app_enable_outgoing_calls: bool,
    /// Whether the kiosk app may show notifications while locked.
    #[serde(default)]
    pub kiosk_app_enable_notifications: bool,
    /// Whether installing apps from unknown sources is refused while enrolled.
    #[serde(default)]
    pub disallow_installing_from_unknown_sources: bool,
    /// The terms the borrower is shown during provisioning.
    #[serde(default)]
    pub terms_and_conditions_url: String,
    /// Where the borrower gets help.
    #[serde(default)]
    pub support_url: String,
    /// When phones provision, unless a device says otherwise.
    pub provision_type: ProvisionType,
    /// Whether the borrower may not postpone provisioning, unless a device says otherwise.
    #[serde(default)]
    pub force_provisioning: bool,
    /// Countries the phones may be provisioned in, as mobile country codes (`639` Kenya,
    /// `404` and `405` India). Empty: every country.
    #[serde(default)]
    pub approved_mccs: Vec<String>,
    /// Days a mandatory provisioning may keep failing before the phone is told to reset
    /// itself; 0: never.
    #[serde(default)]
    pub factory_reset_after_days: u32,
    /// How long a phone that is known but not ready waits before it checks in again.
    pub retry_checkin_minutes: u32,
}

impl AndroidSettings {
    /// Why these settings cannot be used, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if !is_package(&self.kiosk_app_package) {
            return Err("kiosk_app_package must be an Android package name (com.acme.pay)".into());
        }
        if let Some(p) = self
            .kiosk_app_allowlist_packages
            .iter()
            .find(|p| !is_package(p))
        {
            return Err(format!(
                "{p:?} in kiosk_app_allowlist_packages is no package name"
            ));
        }
        if self.kiosk_app_allowlist_packages.len() > 100 {
            return Err("at most 100 allowlisted packages".into());
        }
        if self.kiosk_app_main_activity.is_empty() || self.kiosk_app_main_activity.len() > 256 {
            return Err("kiosk_app_main_activity must have 1 to 256 characters".into());
        }
        for (name, v) in [
            ("kiosk_app_provider_name", &self.kiosk_app_provider_name),
            ("terms_and_conditions_url", &self.terms_and_conditions_url),
            ("support_url", &self.support_url),
        ] {
            if v.len() > 512 {
                return Err(format!("{name} has more than 512 characters"));
            }
        }
        if let Some(m) = self.approved_mccs.iter().find(|m| !is_mcc(m)) {
            return Err(format!("{m:?} in approved_mccs is not three digits"));
        }
        if !(1..=10_080).contains(&self.retry_checkin_minutes) {
            return Err("retry_checkin_minutes must be 1 to 10080 (a week)".into());
        }
        if self.factory_reset_after_days > 365 {
            return Err("factory_reset_after_days must be at most 365".into());
        }
        Ok(())
    }

    /// Whether a SIM of `mccmnc` (5 or 6 digits) is in an approved country; `None` when the
    /// value is no MCC/MNC.
    pub fn approves(&self, mccmnc: &str) -> Option<bool> {
        if !(5..=6).contains(&mccmnc.len()) || !mccmnc.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mcc = &mccmnc[..3];
        Some(self.approved_mccs.is_empty() || self.approved_mccs.iter().any(|m| m == mcc))
    }
}

fn is_mcc(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `com.acme.pay`: two or more dot-separated segments of letters, digits and `_`, each
/// starting with a letter.
fn is_package(s: &str) -> bool {
    s.len() <= 256
        && s.split('.').count() >= 2
        && s.split('.').all(|seg| {
            seg.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// The lender's choices for one phone on the Android channel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndroidDeviceConfig {
    /// Keep the phone waiting (`RETRY_CHECKIN`) instead of provisioning it: the contract is
    /// not signed yet, say.
    #[serde(default)]
    pub hold: bool,
    /// Overrides the lender's provision type.
    #[serde(default)]
    pub provision_type: Option<ProvisionType>,
    /// Overrides the lender's `force_provisioning`.
    #[serde(default)]
    pub force_provisioning: Option<bool>,
    /// Lets the phone be debugged (a lender's test phone).
    #[serde(default)]
    pub allow_debugging: bool,
}

/// The provisioning state the server last told the phone, by the Device Lock Controller's
/// names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvisionState {
    /// Nothing reported yet.
    Unspecified,
    /// Try again.
    Retry,
    /// Show the failure in a notification the borrower may dismiss.
    DismissibleUi,
    /// Show the failure in a notification that stays.
    PersistentUi,
    /// Reset the phone to factory settings.
    FactoryReset,
    /// Provisioned.
    Success,
}

impl ProvisionState {
    /// The stable name used in storage and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ProvisionState::Unspecified => "unspecified",
            ProvisionState::Retry => "retry",
            ProvisionState::DismissibleUi => "dismissible_ui",
            ProvisionState::PersistentUi => "persistent_ui",
            ProvisionState::FactoryReset => "factory_reset",
            ProvisionState::Success => "success",
        }
    }

    /// Reads [`Self::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        use ProvisionState as P;
        [
            P::Unspecified,
            P::Retry,
            P::DismissibleUi,
            P::PersistentUi,
            P::FactoryReset,
            P::Success,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// What the Device Lock Controller is told at check-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckinAnswer {
    /// Provision now, with this provision type and force flag.
    Provision {
        /// When to provision.
        provision_type: ProvisionType,
        /// Whether the borrower may not postpone it.
        force: bool,
    },
    /// Known, but not ready: check in again at this time.
    Retry(Timestamp),
    /// Not in a program (unknown, or released): stop checking in for good.
    Stop,
}

/// The answer to a check-in of a device in `state` (`None`: no enrollment matched), with
/// the lender's settings (`None`: the lender has not set the channel up) and the device's
/// configuration. A factory-reset phone checks in like a new one and gets the same answer:
/// its server-side state, not what it remembers, decides.
pub fn checkin_answer(
    state: Option<DeviceState>,
    settings: Option<&AndroidSettings>,
    device: &AndroidDeviceConfig,
    now: Timestamp,
) -> CheckinAnswer {
    match (state, settings) {
        (None | Some(DeviceState::Released), _) => CheckinAnswer::Stop,
        (Some(_), None) => CheckinAnswer::Retry(now.plus_secs(60 * 60)),
        (Some(DeviceState::Active | DeviceState::Locked), Some(s)) => {
            if device.hold {
                CheckinAnswer::Retry(now.plus_secs(i64::from(s.retry_checkin_minutes) * 60))
            } else {
                CheckinAnswer::Provision {
                    provision_type: device.provision_type.unwrap_or(s.provision_type),
                    force: device.force_provisioning.unwrap_or(s.force_provisioning),
                }
            }
        }
    }
}

/// The reply to a provisioning report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProvisionReply {
    /// What the phone does next.
    pub next: ProvisionState,
    /// Days left before a phone that keeps failing is reset (0 when none is coming).
    pub days_left_until_reset: u32,
    /// When the failures began (kept until a success), for the reset deadline.
    pub failing_since: Option<Timestamp>,
}

/// The next state after a report: `success`, or a failure that follows `previous`. A
/// mandatory provisioning escalates from a retry to a persistent notice and, once
/// `factory_reset_after_days` have passed since the first failure (when set), to a factory
/// reset; a deferred one never goes past a dismissible notice.
pub fn provision_reply(
    success: bool,
    previous: ProvisionState,
    provision_type: ProvisionType,
    settings: &AndroidSettings,
    failing_since: Option<Timestamp>,
    now: Timestamp,
) -> ProvisionReply {
    if success {
        return ProvisionReply {
            next: ProvisionState::Success,
            days_left_until_reset: 0,
            failing_since: None,
        };
    }
    let since = failing_since.unwrap_or(now);
    let first = matches!(
        previous,
        ProvisionState::Unspecified | ProvisionState::Success
    ) && failing_since.is_none();
    match provision_type {
        ProvisionType::Deferred => ProvisionReply {
            next: if first {
                ProvisionState::Retry
            } else {
                ProvisionState::DismissibleUi
            },
            days_left_until_reset: 0,
            failing_since: Some(since),
        },
        ProvisionType::Mandatory => {
            let days = settings.factory_reset_after_days;
            if days == 0 {
                return ProvisionReply {
                    next: if first {
                        ProvisionState::Retry
                    } else {
                        ProvisionState::PersistentUi
                    },
                    days_left_until_reset: 0,
                    failing_since: Some(since),
                };
            }
            let deadline = since.plus_millis(i64::from(days) * DAY_MS);
            let left_ms = deadline.as_millis() - now.as_millis();
            if left_ms <= 0 {
                return ProvisionReply {
                    next: ProvisionState::FactoryReset,
                    days_left_until_reset: 0,
                    failing_since: Some(since),
                };
            }
            // Whole days, rounded up: "1 day left" until the very end.
            let left_days = u32::try_from((left_ms + DAY_MS - 1) / DAY_MS).unwrap_or(u32::MAX);
            ProvisionReply {
                next: if first {
                    ProvisionState::Retry
                } else {
                    ProvisionState::PersistentUi
                },
                days_left_until_reset: left_days,
                failing_since: Some(since),
            }
        }
    }
}

/// How the phone named itself in a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhoneId {
    /// An IMEI (15 digits, valid check digit).
    Imei(Imei),
    /// A manufacturer serial number.
    Serial(String),
}

/// Reads an identifier the phone sent as `kind`: an IMEI; a decimal MEID (14 digits, the
/// IMEI without its check digit on phones that have both); or a serial. `None`: malformed.
pub fn parse_phone_id(kind: IdKind, value: &str) -> Option<PhoneId> {
    let value = value.trim();
    match kind {
        IdKind::Imei => Imei::parse(value).ok().map(PhoneId::Imei),
        IdKind::Meid => meid_to_imei(value).map(PhoneId::Imei),
        IdKind::Serial => {
            (!value.is_empty() && value.len() <= 128 && value.chars().all(|c| !c.is_control()))
                .then(|| PhoneId::Serial(value.to_owned()))
        }
    }
}

/// Reads a `registered_device_identifier` back: what [`parse_phone_id`] accepted.
pub fn parse_registered(value: &str) -> Option<PhoneId> {
    parse_phone_id(IdKind::Imei, value)
        .or_else(|| parse_phone_id(IdKind::Meid, value))
        .or_else(|| parse_phone_id(IdKind::Serial, value))
}

/// The kinds of identifier a phone sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    /// IMEI.
    Imei,
    /// MEID.
    Meid,
    /// Serial number.
    Serial,
}

fn meid_to_imei(meid: &str) -> Option<Imei> {
    if meid.len() != 14 || !meid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    (0..10)
        .map(|d| format!("{meid}{d}"))
        .find_map(|s| Imei::parse(&s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(days: u32) -> AndroidSettings {
        AndroidSettings {
            kiosk_app_provider_name: "Acme".into(),
            kiosk_app_package: "com.acme.pay".into(),
            kiosk_app_main_activity: "com.acme.pay.Main".into(),
            kiosk_app_allowlist_packages: vec![],
            kiosk_app_enable_outgoing_calls: false,
            kiosk_app_enable_notifications: true,
            disallow_installing_from_unknown_sources: true,
            terms_and_conditions_url: String::new(),
            support_url: String::new(),
            provision_type: ProvisionType::Mandatory,
            force_provisioning: true,
            approved_mccs: vec!["639".into()],
            factory_reset_after_days: days,
            retry_checkin_minutes: 60,
        }
    }

    const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    #[test]
    fn settings_check() {
        assert!(settings(3).check().is_ok());
        let mut s = settings(3);
        s.kiosk_app_package = "pay".into();
        assert!(s.check().is_err());
        let mut s = settings(3);
        s.approved_mccs = vec!["63".into()];
        assert!(s.check().is_err());
    }

    #[test]
    fn country() {
        let s = settings(3);
        assert_eq!(s.approves("63902"), Some(true));
        assert_eq!(s.approves("405840"), Some(false));
        assert_eq!(s.approves("63x02"), None);
        let mut all = settings(3);
        all.approved_mccs.clear();
        assert_eq!(all.approves("31026"), Some(true));
    }

    #[test]
    fn checkin() {
        let s = settings(3);
        let d = AndroidDeviceConfig::default();
        assert_eq!(checkin_answer(None, Some(&s), &d, T0), CheckinAnswer::Stop);
        assert_eq!(
            checkin_answer(Some(DeviceState::Released), Some(&s), &d, T0),
            CheckinAnswer::Stop
        );
        assert_eq!(
            checkin_answer(Some(DeviceState::Locked), Some(&s), &d, T0),
            CheckinAnswer::Provision {
                provision_type: ProvisionType::Mandatory,
                force: true
            }
        );
        let held = AndroidDeviceConfig {
            hold: true,
            ..Default::default()
        };
        assert_eq!(
            checkin_answer(Some(DeviceState::Active), Some(&s), &held, T0),
            CheckinAnswer::Retry(T0.plus_secs(3600))
        );
        assert!(matches!(
            checkin_answer(Some(DeviceState::Active), None, &d, T0),
            CheckinAnswer::Retry(_)
        ));
    }

    #[test]
    fn mandatory_failures_escalate_to_reset() {
        let s = settings(3);
        let m = ProvisionType::Mandatory;
        let r1 = provision_reply(false, ProvisionState::Unspecified, m, &s, None, T0);
        assert_eq!(r1.next, ProvisionState::Retry);
        assert_eq!(r1.days_left_until_reset, 3);
        let t1 = T0.plus_secs(3600);
        let r2 = provision_reply(false, r1.next, m, &s, r1.failing_since, t1);
        assert_eq!(r2.next, ProvisionState::PersistentUi);
        assert_eq!(r2.days_left_until_reset, 3);
        let t3 = T0.plus_secs(3 * 86_400);
        let r3 = provision_reply(false, r2.next, m, &s, r2.failing_since, t3);
        assert_eq!(r3.next, ProvisionState::FactoryReset);
        assert_eq!(r3.days_left_until_reset, 0);
        let ok = provision_reply(true, r3.next, m, &s, r3.failing_since, t3);
        assert_eq!(ok.next, ProvisionState::Success);
        assert_eq!(ok.failing_since, None);
    }

    #[test]
    fn deferred_never_resets() {
        let s = settings(1);
        let d = ProvisionType::Deferred;
        let r = provision_reply(
            false,
            ProvisionState::Retry,
            d,
            &s,
            Some(T0),
            T0.plus_secs(9 * 86_400),
        );
        assert_eq!(r.next, ProvisionState::DismissibleUi);
        assert_eq!(r.days_left_until_reset, 0);
    }

    #[test]
    fn identifiers() {
        let imei = "356938035643809";
        assert_eq!(
            parse_phone_id(IdKind::Meid, &imei[..14]),
            Some(PhoneId::Imei(Imei::parse(imei).unwrap()))
        );
        assert_eq!(parse_phone_id(IdKind::Imei, "356938035643808"), None);
        assert_eq!(
            parse_registered("SN-1"),
            Some(PhoneId::Serial("SN-1".into()))
        );
        assert_eq!(parse_phone_id(IdKind::Serial, ""), None);
    }
}
