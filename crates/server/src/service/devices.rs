//! Enrolling devices and reading them back.

use super::{Service, ServiceError};
use lienlock_domain::Permission;
use lienlock_domain::{
    BoundedText, DeviceId, DeviceState, EventKind, Imei, KeyStatus, LenderCtx, RestrictionLevel,
};
use lienlock_store::{Actor, Command, Device, DeviceQuery, TimelineEvent};

/// What a lender gives to enroll a phone.
#[derive(Debug, Clone)]
pub struct EnrollRequest {
    /// Primary IMEI (the one the agent checks in with), as typed.
    pub imei: String,
    /// Second IMEI of a dual-SIM phone.
    pub imei2: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Model.
    pub model: Option<String>,
}

fn parse_imei(s: &str) -> Result<Imei, ServiceError> {
    Imei::parse(s).map_err(ServiceError::InvalidImei)
}

fn optional_text(field: &'static str, s: Option<&str>) -> Result<Option<String>, ServiceError> {
    s.map(|s| {
        BoundedText::<128>::parse(s)
            .map(String::from)
            .map_err(|e| ServiceError::Invalid {
                field,
                why: e.to_string(),
            })
    })
    .transpose()
}

impl Service {
    /// Enrolls a phone for the caller's lender.
    pub async fn enroll(
        &self,
        ctx: &LenderCtx,
        req: EnrollRequest,
    ) -> Result<Device, ServiceError> {
        ctx.require(Permission::Enroll)?;
        let imei = parse_imei(&req.imei)?;
        let imei2 = req.imei2.as_deref().map(parse_imei).transpose()?;
        if imei2 == Some(imei) {
            return Err(ServiceError::Invalid {
                field: "imei2",
                why: "must differ from imei".into(),
            });
        }
        let now = self.clock.now();
        let device = Device {
            id: DeviceId::new(),
            lender_id: ctx.lender_id,
            imei,
            imei2,
            serial: optional_text("serial", req.serial.as_deref())?,
            model: optional_text("model", req.model.as_deref())?,
            state: DeviceState::Active,
            key_status: KeyStatus::Unregistered,
            device_key: None,
            pending_key: None,
            last_counter: 0,
            pending_counter: 0,
            retired_key: None,
            retired_counter: 0,
            lease_seq: 0,
            policy_level: RestrictionLevel::None,
            policy_level_since: lienlock_domain::Timestamp::from_millis(0),
            notice_seq: 0,
            arrears: None,
            last_seen_at: None,
            enrolled_at: now,
            updated_at: now,
            version: 0,
        };
        let mut event = TimelineEvent::new(
            &device,
            now,
            EventKind::Enrolled,
            Actor::from(ctx.principal),
        );
        event.detail = Some(format!("IMEI {imei}"));
        self.store.enroll_device(ctx, &device, &event).await?;
        Ok(device)
    }

    /// One of the caller's devices.
    pub async fn device(&self, ctx: &LenderCtx, id: DeviceId) -> Result<Device, ServiceError> {
        self.store
            .device(ctx, id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// The caller's own lender.
    pub async fn lender(&self, ctx: &LenderCtx) -> Result<lienlock_store::Lender, ServiceError> {
        Ok(self.store.lender(ctx).await?)
    }

    /// A page of the caller's devices.
    pub async fn list_devices(
        &self,
        ctx: &LenderCtx,
        query: DeviceQuery,
    ) -> Result<Vec<Device>, ServiceError> {
        Ok(self.store.list_devices(ctx, &query).await?)
    }

    /// A page of a device's timeline.
    pub async fn timeline(
        &self,
        ctx: &LenderCtx,
        id: DeviceId,
        after_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<TimelineEvent>, ServiceError> {
        self.store
            .timeline(ctx, id, after_seq, limit)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// A device's commands, oldest first.
    pub async fn commands(
        &self,
        ctx: &LenderCtx,
        id: DeviceId,
    ) -> Result<Vec<Command>, ServiceError> {
        // Distinguish "no commands" from "not your device".
        self.device(ctx, id).await?;
        Ok(self.store.device_commands(ctx, id, None).await?)
    }
}
