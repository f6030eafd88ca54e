//! Disputes ("I paid: receipt ..."): while one is open no automatic restriction starts or
//! escalates, and support may grant a temporary unlock until a set time.

use super::{Service, ServiceError};
use lienlock_domain::Permission;
use lienlock_domain::{BoundedText, DeviceId, DisputeId, EventKind, LenderCtx, Timestamp};
use lienlock_store::{Actor, DisputeRecord, StoreError, TimelineEvent};

fn reason(field: &'static str, s: &str) -> Result<String, ServiceError> {
    BoundedText::<500>::parse(s)
        .map(String::from)
        .map_err(|e| ServiceError::Invalid {
            field,
            why: e.to_string(),
        })
}

fn store_err(e: StoreError) -> ServiceError {
    match e {
        StoreError::NotFound(_) => ServiceError::NotFound,
        StoreError::Conflict(_) => ServiceError::DisputeClosed,
        other => other.into(),
    }
}

impl Service {
    /// Opens a dispute on one of the caller's devices on behalf of the borrower, optionally
    /// with a temporary unlock. The device's contract is re-evaluated at once.
    pub async fn open_dispute(
        &self,
        ctx: &LenderCtx,
        device: DeviceId,
        why: &str,
        temporary_unlock_until: Option<Timestamp>,
    ) -> Result<DisputeRecord, ServiceError> {
        ctx.require(Permission::HandleDisputes)?;
        let why = reason("reason", why)?;
        let device = self.device(ctx, device).await?;
        let now = self.clock.now();
        let until = Self::check_until(temporary_unlock_until, now)?;
        let contract = self.store.contract_for_device(ctx, device.id).await?;
        let dispute = DisputeRecord {
            id: DisputeId::new(),
            lender_id: ctx.lender_id,
            device_id: device.id,
            contract_id: contract.map(|c| c.id),
            opened_by: Actor::from(ctx.principal),
            reason: why.clone(),
            opened_at: now,
            temporary_unlock_until: until,
            closed_at: None,
            closed_by: None,
            resolution: None,
        };
        let mut e = TimelineEvent::new(
            &device,
            now,
            EventKind::DisputeOpened,
            Actor::from(ctx.principal),
        );
        e.reason = Some(why);
        e.detail = Some(match until {
            Some(u) => format!(
                "dispute {}; temporary unlock until {}",
                dispute.id,
                crate::views::rfc3339(u)
            ),
            None => format!("dispute {}", dispute.id),
        });
        self.store
            .open_dispute(ctx, &dispute, &e)
            .await
            .map_err(store_err)?;
        Ok(dispute)
    }

    /// Grants (or moves) a temporary unlock on an open dispute.
    pub async fn grant_temporary_unlock(
        &self,
        ctx: &LenderCtx,
        id: DisputeId,
        until: Timestamp,
        why: &str,
    ) -> Result<DisputeRecord, ServiceError> {
        ctx.require(Permission::HandleDisputes)?;
        let why = reason("reason", why)?;
        let now = self.clock.now();
        let until = Self::check_until(Some(until), now)?;
        let mut dispute = self.find_dispute(ctx, id).await?;
        dispute.temporary_unlock_until = until;
        self.update(ctx, &dispute, EventKind::TemporaryUnlock, why, now)
            .await?;
        Ok(dispute)
    }

    /// Closes an open dispute with a resolution. A temporary unlock already granted still
    /// runs to its end: a promise made to the borrower is kept.
    pub async fn close_dispute(
        &self,
        ctx: &LenderCtx,
        id: DisputeId,
        resolution: &str,
    ) -> Result<DisputeRecord, ServiceError> {
        ctx.require(Permission::HandleDisputes)?;
        let resolution = reason("resolution", resolution)?;
        let now = self.clock.now();
        let mut dispute = self.find_dispute(ctx, id).await?;
        dispute.closed_at = Some(now);
        dispute.closed_by = Some(Actor::from(ctx.principal));
        dispute.resolution = Some(resolution.clone());
        self.update(ctx, &dispute, EventKind::DisputeClosed, resolution, now)
            .await?;
        Ok(dispute)
    }

    /// A dispute opened by the borrower from the phone (`POST /device/v1/dispute`). The
    /// request must be signed by the device's bound key with a fresh counter (shared with
    /// check-ins). One open dispute per device: a second request returns the open one, so a
    /// phone cannot flood the lender's queue.
    pub async fn device_dispute(
        &self,
        signed: &lienlock_wire::SignedDispute,
    ) -> Result<DisputeRecord, ServiceError> {
        use lienlock_wire::WireError;
        let req = signed.open().map_err(|e| match e {
            WireError::BadSignature => ServiceError::BadSignature,
            other => ServiceError::BadDeviceMessage(other),
        })?;
        let why = reason("reason", &req.reason)?;
        let device = super::retry_stale(|| async {
            let mut device = self
                .store
                .device_for_checkin(&req.imei)
                .await?
                .ok_or(ServiceError::UnknownDevice)?;
            // Only the bound key speaks for the borrower; a pending or unknown key does not.
            if device.key_status != lienlock_domain::KeyStatus::Bound
                || device.device_key != Some(req.device_key)
            {
                return Err(ServiceError::BadSignature);
            }
            if req.counter <= device.last_counter {
                return Err(ServiceError::Replay {
                    counter: req.counter,
                    last: device.last_counter,
                });
            }
            device.last_counter = req.counter;
            device.updated_at = self.clock.now();
            self.store
                .save_device(&lienlock_store::DeviceWrite::new(device.clone()))
                .await?;
            device.version += 1;
            Ok(device)
        })
        .await?;
        let now = self.clock.now();
        let contract = self.store.active_contract_unscoped(device.id).await?;
        if let Some(c) = &contract {
            let open = self
                .store
                .contract_disputes_unscoped(c.id)
                .await?
                .into_iter()
                .find(DisputeRecord::is_open);
            if let Some(open) = open {
                return Ok(open);
            }
        }
        let dispute = DisputeRecord {
            id: DisputeId::new(),
            lender_id: device.lender_id,
            device_id: device.id,
            contract_id: contract.map(|c| c.id),
            opened_by: Actor::Device,
            reason: why.clone(),
            opened_at: now,
            temporary_unlock_until: None,
            closed_at: None,
            closed_by: None,
            resolution: None,
        };
        let mut e = TimelineEvent::new(&device, now, EventKind::DisputeOpened, Actor::Device);
        e.reason = Some(why);
        e.detail = Some(format!("dispute {} opened from the phone", dispute.id));
        self.store
            .open_dispute_from_device(&dispute, &e)
            .await
            .map_err(store_err)?;
        Ok(dispute)
    }

    /// A device's notices, by sequence number.
    pub async fn device_notices(
        &self,
        ctx: &LenderCtx,
        device: DeviceId,
    ) -> Result<Vec<lienlock_store::NoticeRecord>, ServiceError> {
        self.store
            .device_notices(ctx, device)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// A device's disputes, oldest first.
    pub async fn device_disputes(
        &self,
        ctx: &LenderCtx,
        device: DeviceId,
    ) -> Result<Vec<DisputeRecord>, ServiceError> {
        self.store
            .device_disputes(ctx, device)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    async fn find_dispute(
        &self,
        ctx: &LenderCtx,
        id: DisputeId,
    ) -> Result<DisputeRecord, ServiceError> {
        let d = self
            .store
            .dispute(ctx, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if !d.is_open() {
            return Err(ServiceError::DisputeClosed);
        }
        Ok(d)
    }

    async fn update(
        &self,
        ctx: &LenderCtx,
        dispute: &DisputeRecord,
        kind: EventKind,
        why: String,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        let device = self.device(ctx, dispute.device_id).await?;
        let mut e = TimelineEvent::new(&device, now, kind, Actor::from(ctx.principal));
        e.reason = Some(why);
        e.detail = Some(match (kind, dispute.temporary_unlock_until) {
            (EventKind::TemporaryUnlock, Some(u)) => format!(
                "dispute {}; unlocked until {}",
                dispute.id,
                crate::views::rfc3339(u)
            ),
            _ => format!("dispute {}", dispute.id),
        });
        self.store
            .update_dispute(ctx, dispute, &e)
            .await
            .map_err(store_err)
    }

    /// A temporary unlock must end in the future and within 30 days: long enough for a bank
    /// to confirm a transfer, short enough that it is a hold, not a write-off.
    fn check_until(
        until: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, ServiceError> {
        match until {
            Some(u) if u <= now => Err(ServiceError::Invalid {
                field: "temporary_unlock_until",
                why: "must be in the future".into(),
            }),
            Some(u) if u > now.plus_secs(30 * 24 * 3600) => Err(ServiceError::Invalid {
                field: "temporary_unlock_until",
                why: "at most 30 days ahead".into(),
            }),
            other => Ok(other),
        }
    }
}
