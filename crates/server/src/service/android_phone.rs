//! The phones' side of the Android channel: what Android's Device Lock Controller asks and
//! reports, as use cases free of gRPC (`crate::android` translates). The rules are
//! `lienlock_domain::android`; this file finds the phone, applies them and records what
//! happened on the phone's timeline.

use super::android::{android_key_hash, PHONE};
use super::Service;
use lienlock_domain::android::{
    checkin_answer, parse_registered, provision_reply, AndroidSettings, CheckinAnswer, PhoneId,
    ProvisionState, ProvisionType,
};
use lienlock_domain::{DeviceState, EventKind, LenderId, Timestamp};
use lienlock_store::{AndroidDeviceRecord, AndroidPart, Device, StoreError, TimelineEvent};
use subtle::ConstantTimeEq;

/// Why a phone's call failed. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    /// No key, or one no lender (and not the deployment) has.
    #[error("unknown API key")]
    Unauthenticated,
    /// A request that does not make sense.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// No enrolled phone has this identifier (for this key).
    #[error("no enrolled device has this identifier")]
    UnknownDevice,
    /// The call does not apply to the phone's state.
    #[error("{0}")]
    Precondition(&'static str),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whose phones a call may concern: one lender's (its key) or all (the deployment's key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneScope {
    /// The deployment's key: any lender's phones.
    Deployment,
    /// A lender's key: its phones only.
    Lender(LenderId),
}

/// The answer to a check-in, with what the phone needs to provision.
#[derive(Clone, Debug)]
pub struct PhoneCheckin {
    /// What to do.
    pub answer: CheckinAnswer,
    /// The identifier that matched (`None` when none did).
    pub registered: Option<String>,
    /// The lender's settings, for a phone told to provision.
    pub settings: Option<AndroidSettings>,
    /// Whether the SIM is in an approved country.
    pub approved_country: bool,
    /// Whether the phone may be debugged.
    pub allow_debugging: bool,
}

/// A check-in as the phone sent it, its identifiers already read.
#[derive(Clone, Debug)]
pub struct CheckinRequest {
    /// Every identifier, each with the text it was sent as.
    pub ids: Vec<(PhoneId, String)>,
    /// The SIM's MCC and MNC, when it has one.
    pub mccmnc: Option<String>,
    /// The phone's push token, when sent.
    pub fcm_token: Option<String>,
}

/// The longest push token kept.
const MAX_TOKEN: usize = 4096;

impl Service {
    /// Who a phone's key belongs to. `deployment` is the hash of the deployment's key, when
    /// one is configured.
    pub async fn android_scope(
        &self,
        key: &str,
        deployment: Option<&[u8; 32]>,
    ) -> Result<PhoneScope, PhoneError> {
        if key.is_empty() || key.len() > 256 {
            return Err(PhoneError::Unauthenticated);
        }
        let hash = android_key_hash(key);
        if deployment.is_some_and(|d| bool::from(d.ct_eq(&hash))) {
            return Ok(PhoneScope::Deployment);
        }
        match self.store.android_lender_by_key_unscoped(&hash).await? {
            Some(lender) => Ok(PhoneScope::Lender(lender)),
            None => Err(PhoneError::Unauthenticated),
        }
    }

    /// The enrolled phone one of `ids` names, in the order sent, with the text that matched.
    async fn find_phone(
        &self,
        scope: PhoneScope,
        ids: &[(PhoneId, String)],
    ) -> Result<Option<(Device, String)>, PhoneError> {
        for (id, text) in ids {
            let found = match id {
                PhoneId::Imei(imei) => self.store.device_for_checkin(imei).await?,
                PhoneId::Serial(s) => self.store.device_by_serial_unscoped(s).await?,
            };
            if let Some(d) = found {
                if scope == PhoneScope::Deployment || scope == PhoneScope::Lender(d.lender_id) {
                    return Ok(Some((d, text.clone())));
                }
            }
        }
        Ok(None)
    }

    /// The phone a `registered_device_identifier` names, with its Android record.
    async fn registered_phone(
        &self,
        scope: PhoneScope,
        registered: Option<&str>,
    ) -> Result<(Device, AndroidDeviceRecord), PhoneError> {
        let text = registered
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| PhoneError::Invalid("registered_device_identifier is missing".into()))?;
        let id = parse_registered(text).ok_or_else(|| {
            PhoneError::Invalid("registered_device_identifier is malformed".into())
        })?;
        let (device, _) = self
            .find_phone(scope, &[(id, text.to_owned())])
            .await?
            .ok_or(PhoneError::UnknownDevice)?;
        let record = self.phone_record(&device, self.clock.now()).await?;
        Ok((device, record))
    }

    async fn phone_record(
        &self,
        device: &Device,
        now: Timestamp,
    ) -> Result<AndroidDeviceRecord, PhoneError> {
        Ok(self
            .store
            .android_device_unscoped(device.id)
            .await?
            .filter(|r| r.lender_id == device.lender_id)
            .unwrap_or_else(|| AndroidDeviceRecord::new(device.id, device.lender_id, now)))
    }

    async fn settings_of(&self, device: &Device) -> Result<Option<AndroidSettings>, PhoneError> {
        Ok(self
            .store
            .android_settings_unscoped(device.lender_id)
            .await?
            .map(|r| r.settings))
    }

    async fn record(
        &self,
        device: &Device,
        mut record: AndroidDeviceRecord,
        now: Timestamp,
        detail: String,
    ) -> Result<(), PhoneError> {
        record.updated_at = now;
        let mut event = TimelineEvent::new(device, now, EventKind::Android, PHONE);
        event.detail = Some(detail);
        self.store
            .save_android_device(&record, AndroidPart::Phone, &[event])
            .await?;
        Ok(())
    }

    /// `GetDeviceCheckinStatus`: whether the phone is in a program and what to do.
    pub async fn android_checkin(
        &self,
        scope: PhoneScope,
        req: CheckinRequest,
    ) -> Result<PhoneCheckin, PhoneError> {
        if req.ids.is_empty() || req.ids.len() > 16 {
            return Err(PhoneError::Invalid(
                "send 1 to 16 client_device_identifiers".into(),
            ));
        }
        if req.fcm_token.as_ref().is_some_and(|t| t.len() > MAX_TOKEN) {
            return Err(PhoneError::Invalid(
                "fcm_registration_token is too long".into(),
            ));
        }
        let now = self.clock.now();
        let Some((device, registered)) = self.find_phone(scope, &req.ids).await? else {
            return Ok(PhoneCheckin {
                answer: CheckinAnswer::Stop,
                registered: None,
                settings: None,
                approved_country: false,
                allow_debugging: false,
            });
        };
        let settings = self.settings_of(&device).await?;
        let mut record = self.phone_record(&device, now).await?;
        let answer = checkin_answer(Some(device.state), settings.as_ref(), &record.config, now);
        let approved_country = match (&settings, &req.mccmnc) {
            (Some(s), Some(m)) => s.approves(m).unwrap_or(false),
            (Some(s), None) => s.approved_mccs.is_empty(),
            (None, _) => false,
        };
        let mut detail = format!("checkin: {}", answer_name(&answer));
        if matches!(answer, CheckinAnswer::Provision { .. })
            && record.provision_state == ProvisionState::Success
        {
            // Provisioned before and asking again: the phone was reset. Its server-side
            // state decides, so it provisions again from the start.
            detail.push_str(", provisioning again after a reset");
            record.provision_state = ProvisionState::Unspecified;
            record.failing_since = None;
        }
        if device.state == DeviceState::Released {
            detail.push_str(", released");
        }
        if !approved_country && matches!(answer, CheckinAnswer::Provision { .. }) {
            detail.push_str(", not in an approved country");
        }
        record.last_checkin_at = Some(now);
        record.registered_identifier = Some(registered.clone());
        if let Some(t) = req.fcm_token.filter(|t| !t.is_empty()) {
            record.fcm_token = Some(t);
        }
        let allow_debugging = record.config.allow_debugging;
        self.record(&device, record, now, detail).await?;
        Ok(PhoneCheckin {
            answer,
            registered: Some(registered),
            settings,
            approved_country,
            allow_debugging,
        })
    }

    /// `ReportDeviceProvisionState`: how provisioning went; answers what the phone does
    /// next and the days left before a reset.
    pub async fn android_report_provision(
        &self,
        scope: PhoneScope,
        registered: Option<&str>,
        success: bool,
        previous: ProvisionState,
        failure: &str,
    ) -> Result<(ProvisionState, u32), PhoneError> {
        let (device, mut record) = self.registered_phone(scope, registered).await?;
        if device.state == DeviceState::Released {
            return Err(PhoneError::Precondition("the device was released"));
        }
        let settings = self
            .settings_of(&device)
            .await?
            .ok_or(PhoneError::Precondition(
                "the lender has not set up Android provisioning",
            ))?;
        let now = self.clock.now();
        let kind = record
            .config
            .provision_type
            .unwrap_or(settings.provision_type);
        let reply = provision_reply(
            success,
            previous,
            kind,
            &settings,
            record.failing_since,
            now,
        );
        record.provision_state = reply.next;
        record.failing_since = reply.failing_since;
        let detail = if success {
            "provision: success".to_owned()
        } else {
            format!(
                "provision: failed ({failure}), next {}, {} days left until reset",
                reply.next.as_str(),
                reply.days_left_until_reset
            )
        };
        self.record(&device, record, now, detail).await?;
        Ok((reply.next, reply.days_left_until_reset))
    }

    /// `PauseDeviceProvisioning`: the borrower postponed a provisioning that is not forced.
    pub async fn android_pause(
        &self,
        scope: PhoneScope,
        registered: Option<&str>,
    ) -> Result<(), PhoneError> {
        let (device, mut record) = self.registered_phone(scope, registered).await?;
        let settings = self.settings_of(&device).await?;
        let forced = record
            .config
            .force_provisioning
            .or(settings.as_ref().map(|s| s.force_provisioning))
            .unwrap_or(false);
        if forced {
            return Err(PhoneError::Precondition(
                "provisioning of this device is forced",
            ));
        }
        let now = self.clock.now();
        record.paused_at = Some(now);
        self.record(
            &device,
            record,
            now,
            "pause: the user deferred provisioning".into(),
        )
        .await
    }

    /// `IsDeviceInApprovedCountry`: whether a SIM of `mccmnc` is in one of the lender's
    /// countries.
    pub async fn android_country(
        &self,
        scope: PhoneScope,
        registered: Option<&str>,
        mccmnc: &str,
    ) -> Result<bool, PhoneError> {
        let (device, record) = self.registered_phone(scope, registered).await?;
        let settings = self
            .settings_of(&device)
            .await?
            .ok_or(PhoneError::Precondition(
                "the lender has not set up Android provisioning",
            ))?;
        let approved = settings
            .approves(mccmnc)
            .ok_or_else(|| PhoneError::Invalid("carrier_mccmnc must be 5 or 6 digits".into()))?;
        let now = self.clock.now();
        let verdict = if approved { "approved" } else { "not approved" };
        self.record(&device, record, now, format!("country: {mccmnc} {verdict}"))
            .await?;
        Ok(approved)
    }

    /// `UpdateFcmToken`: the phone's new push token. `false` when no enrolled phone has
    /// these identifiers (nothing written).
    pub async fn android_fcm_token(
        &self,
        scope: PhoneScope,
        ids: &[(PhoneId, String)],
        token: &str,
    ) -> Result<bool, PhoneError> {
        if ids.is_empty() || ids.len() > 16 {
            return Err(PhoneError::Invalid(
                "send 1 to 16 client_device_identifiers".into(),
            ));
        }
        if token.is_empty() || token.len() > MAX_TOKEN {
            return Err(PhoneError::Invalid(
                "fcm_registration_token must have 1 to 4096 characters".into(),
            ));
        }
        let Some((device, _)) = self.find_phone(scope, ids).await? else {
            return Ok(false);
        };
        let now = self.clock.now();
        let mut record = self.phone_record(&device, now).await?;
        record.fcm_token = Some(token.to_owned());
        self.record(&device, record, now, "fcm_token: updated".into())
            .await?;
        Ok(true)
    }

    /// `ReportDeviceProgramComplete`: a released phone cleared itself.
    pub async fn android_program_complete(
        &self,
        scope: PhoneScope,
        registered: Option<&str>,
    ) -> Result<(), PhoneError> {
        let (device, mut record) = self.registered_phone(scope, registered).await?;
        if device.state != DeviceState::Released {
            return Err(PhoneError::Precondition("the device was not released"));
        }
        if record.program_complete_at.is_some() {
            // A retry of a report that landed: once on the timeline is enough.
            return Ok(());
        }
        let now = self.clock.now();
        record.program_complete_at = Some(now);
        self.record(
            &device,
            record,
            now,
            "program_complete: the phone cleared itself".into(),
        )
        .await
    }
}

/// The stable name of an answer, for the timeline.
fn answer_name(a: &CheckinAnswer) -> String {
    match a {
        CheckinAnswer::Provision {
            provision_type,
            force,
        } => format!(
            "ready_for_provision ({}{})",
            match provision_type {
                ProvisionType::Deferred => "deferred",
                ProvisionType::Mandatory => "mandatory",
            },
            if *force { ", forced" } else { "" }
        ),
        CheckinAnswer::Retry(_) => "retry_checkin".into(),
        CheckinAnswer::Stop => "stop_checkin".into(),
    }
}
