//! The lender's side of the Android channel: its settings, the key its phones check in
//! with, and each phone's configuration. The phones' side is `android_phone`.

use super::{Service, ServiceError};
use lienlock_domain::android::{AndroidDeviceConfig, AndroidSettings};
use lienlock_domain::{DeviceId, DeviceState, EventKind, LenderCtx, Permission};
use lienlock_store::{
    Actor, AndroidDeviceRecord, AndroidPart, AndroidSettingsRecord, TimelineEvent,
};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The prefix of a check-in key, so a leaked one is recognisable.
pub const ANDROID_KEY_PREFIX: &str = "dlc_";

/// A new check-in key: the prefix and 32 random bytes in hex.
fn new_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{ANDROID_KEY_PREFIX}{}", hex::encode(bytes))
}

/// What a check-in key is stored and looked up as.
pub fn android_key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl Service {
    /// The caller's Android settings, `None` before it set them.
    pub async fn android_settings(
        &self,
        ctx: &LenderCtx,
    ) -> Result<Option<AndroidSettingsRecord>, ServiceError> {
        ctx.require(Permission::ReadDevices)?;
        Ok(self.store.android_settings(ctx).await?)
    }

    /// Sets the caller's Android settings (what its phones provision with).
    pub async fn set_android_settings(
        &self,
        ctx: &LenderCtx,
        settings: AndroidSettings,
    ) -> Result<AndroidSettingsRecord, ServiceError> {
        ctx.require(Permission::ManagePolicy)?;
        settings.check().map_err(|why| ServiceError::Invalid {
            field: "android settings",
            why,
        })?;
        let now = self.clock.now();
        self.store.set_android_settings(ctx, &settings, now).await?;
        self.store
            .android_settings(ctx)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// Issues the key the caller's phones present (replacing any earlier one, which stops
    /// working at once). Returns it: the one time it is shown.
    pub async fn issue_android_key(&self, ctx: &LenderCtx) -> Result<String, ServiceError> {
        ctx.require(Permission::ManageKeys)?;
        let key = new_key();
        let set = self
            .store
            .set_android_key(ctx, &android_key_hash(&key), self.clock.now())
            .await?;
        if !set {
            return Err(ServiceError::Invalid {
                field: "android settings",
                why: "set the Android settings before issuing a check-in key".into(),
            });
        }
        Ok(key)
    }

    /// One of the caller's phones on the Android channel (a fresh record when it was never
    /// seen or configured there).
    pub async fn android_device(
        &self,
        ctx: &LenderCtx,
        id: DeviceId,
    ) -> Result<AndroidDeviceRecord, ServiceError> {
        ctx.require(Permission::ReadDevices)?;
        let device = self
            .store
            .device(ctx, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(self
            .store
            .android_device(ctx, id)
            .await?
            .unwrap_or_else(|| AndroidDeviceRecord::new(id, device.lender_id, device.enrolled_at)))
    }

    /// Sets the caller's choices for one phone, with an entry on its timeline.
    pub async fn set_android_device(
        &self,
        ctx: &LenderCtx,
        id: DeviceId,
        config: AndroidDeviceConfig,
    ) -> Result<AndroidDeviceRecord, ServiceError> {
        ctx.require(Permission::Command)?;
        let device = self
            .store
            .device(ctx, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        // A released phone is no one's collateral: its Device Lock Controller is told to
        // stop, and nothing the lender sets for it could matter again.
        if device.state == DeviceState::Released {
            return Err(ServiceError::Invalid {
                field: "device",
                why: "the phone is released: it takes no provisioning any more".into(),
            });
        }
        let now = self.clock.now();
        let mut record = self
            .store
            .android_device(ctx, id)
            .await?
            .unwrap_or_else(|| AndroidDeviceRecord::new(id, device.lender_id, now));
        record.config = config;
        record.updated_at = now;
        let mut event = TimelineEvent::new(&device, now, EventKind::Android, ctx.principal.into());
        event.detail = Some(format!("config: {}", describe(&record.config)));
        self.store
            .save_android_device(&record, AndroidPart::Config, &[event])
            .await?;
        Ok(record)
    }
}

/// A phone's configuration in a few words, for its timeline.
fn describe(c: &AndroidDeviceConfig) -> String {
    let mut parts = vec![if c.hold { "hold" } else { "ready" }.to_owned()];
    if let Some(t) = c.provision_type {
        parts.push(format!("{t:?}").to_lowercase());
    }
    if let Some(f) = c.force_provisioning {
        parts.push(if f { "forced" } else { "not forced" }.to_owned());
    }
    if c.allow_debugging {
        parts.push("debugging allowed".to_owned());
    }
    parts.join(", ")
}

/// The actor of a phone's own calls.
pub(crate) const PHONE: Actor = Actor::Device;
