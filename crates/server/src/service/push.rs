//! Who may hold a push connection: the device's own key, now.

use super::{Service, ServiceError};
use lienlock_domain::{DeviceId, DeviceState, KeyStatus, TransitionError};
use lienlock_wire::push::MAX_SKEW_MS;
use lienlock_wire::{SignedSubscribe, WireError};

impl Service {
    /// Checks a push subscription and names the device it is for. It must be signed by the
    /// device's bound key (or the key awaiting the lender's approval, which will want to
    /// hear when that comes) and made within [`MAX_SKEW_MS`] of server time. Nothing is
    /// written: a subscription changes no state.
    pub async fn authorize_push(&self, signed: &SignedSubscribe) -> Result<DeviceId, ServiceError> {
        let req = signed.open().map_err(|e| match e {
            WireError::BadSignature => ServiceError::BadSignature,
            other => ServiceError::BadDeviceMessage(other),
        })?;
        let now = self.clock.now();
        let skew = (req.device_time.as_millis() - now.as_millis()).abs();
        if skew > MAX_SKEW_MS {
            return Err(ServiceError::BadDeviceMessage(WireError::Invalid {
                field: "device_time",
                why: format!(
                    "{} s from server time; at most {} s",
                    skew / 1000,
                    MAX_SKEW_MS / 1000
                ),
            }));
        }
        let device = self
            .store
            .device_for_checkin(&req.imei)
            .await?
            .ok_or(ServiceError::UnknownDevice)?;
        if device.state == DeviceState::Released {
            return Err(ServiceError::Transition(TransitionError::Released));
        }
        let bound = device.key_status != KeyStatus::Unregistered
            && device.device_key == Some(req.device_key);
        let pending = device.pending_key == Some(req.device_key);
        if !bound && !pending {
            return Err(ServiceError::BadSignature);
        }
        Ok(device.id)
    }
}
