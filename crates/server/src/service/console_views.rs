//! What the console's device pages read, gathered in one call each.

use super::{ContractStatus, Service, ServiceError};
use lienlock_domain::{DeviceId, Imei, LenderCtx, UserId};
use lienlock_store::{Device, DisputeRecord, PaymentRecord, TimelineEvent, UserRecord};
use std::collections::HashMap;

/// Most timeline entries a device page shows (the newest).
pub const TIMELINE_SHOWN: usize = 200;

/// Everything a device page shows.
#[derive(Debug, Clone)]
pub struct DeviceOverview {
    /// The device.
    pub device: Device,
    /// Its contract (the active one, else the newest) with what the engine says now.
    pub contract: Option<ContractStatus>,
    /// The contract's payments and reversals, oldest first.
    pub payments: Vec<PaymentRecord>,
    /// The newest timeline entries, newest first.
    pub timeline: Vec<TimelineEvent>,
    /// Its disputes, oldest first.
    pub disputes: Vec<DisputeRecord>,
    /// The lender's users by id, to name who did what.
    pub users: HashMap<UserId, UserRecord>,
}

impl Service {
    /// Finds one of the caller's devices by IMEI (either of a dual-SIM phone's) or by its
    /// contract's reference.
    pub async fn find_device(
        &self,
        ctx: &LenderCtx,
        q: &str,
    ) -> Result<Option<Device>, ServiceError> {
        let q = q.trim();
        if let Ok(imei) = Imei::parse(q) {
            if let Some(d) = self.store.device_by_imei(ctx, &imei).await? {
                return Ok(Some(d));
            }
        }
        match self.store.contract_by_reference(ctx, q).await? {
            Some(c) => Ok(self.store.device(ctx, c.device_id).await?),
            None => Ok(None),
        }
    }

    /// A device page's contents.
    pub async fn device_overview(
        &self,
        ctx: &LenderCtx,
        id: DeviceId,
    ) -> Result<DeviceOverview, ServiceError> {
        let device = self.device(ctx, id).await?;
        let contract = match self.device_contract(ctx, id).await {
            Ok(c) => Some(c),
            Err(ServiceError::NotFound) => None,
            Err(e) => return Err(e),
        };
        let payments = match &contract {
            Some(c) => self.store.contract_payments(ctx, c.contract.id).await?,
            None => Vec::new(),
        };
        // The timeline is read oldest first in pages; keep the newest entries.
        let mut timeline: Vec<TimelineEvent> = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .timeline(ctx, id, after, 1000)
                .await?
                .ok_or(ServiceError::NotFound)?;
            let full = page.len() == 1000;
            after = page.last().map(|e| e.seq);
            timeline.extend(page);
            if timeline.len() > TIMELINE_SHOWN {
                timeline.drain(..timeline.len() - TIMELINE_SHOWN);
            }
            if !full {
                break;
            }
        }
        timeline.reverse();
        let disputes = self.device_disputes(ctx, id).await?;
        let users = self
            .store
            .list_users(ctx)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        Ok(DeviceOverview {
            device,
            contract,
            payments,
            timeline,
            disputes,
            users,
        })
    }
}
