//! Lock, unlock, release and key approval; and scheduled commands coming due.

use super::{retry_stale, Service, ServiceError};
use lienlock_domain::Permission;
use lienlock_domain::{
    BoundedText, CommandId, CommandKind, CommandStatus, DeviceId, EventKind, KeyStatus, LenderCtx,
    Timestamp,
};
use lienlock_store::{Actor, Command, CommandResolution, Device, DeviceWrite, TimelineEvent};

/// A lender's command as requested.
#[derive(Debug, Clone)]
pub struct CommandRequest {
    /// What.
    pub kind: CommandKind,
    /// Why (required: it is shown on the timeline and to auditors).
    pub reason: String,
    /// When, if later than now.
    pub at: Option<Timestamp>,
}

/// A timeline entry by `actor`.
fn event(device: &Device, at: Timestamp, kind: EventKind, actor: &Actor) -> TimelineEvent {
    TimelineEvent::new(device, at, kind, actor.clone())
}

/// A released phone owes nothing it could be held for: its arrears leave the lists and
/// the dashboard at once rather than at the contract's next evaluation.
fn release_clears_arrears(device: &mut Device) {
    if device.state == lienlock_domain::DeviceState::Released {
        device.arrears = None;
    }
}

/// Applies the due commands among `pending` to `device` in order, as of `now`. Pure: returns
/// the resolutions and timeline events to write with the device. A command that no longer
/// fits the device's state is superseded, not failed: its time came and the lender's intent
/// was already met (or overtaken by a release).
pub fn resolve_due(
    device: &mut Device,
    pending: &[Command],
    now: Timestamp,
) -> (Vec<CommandResolution>, Vec<TimelineEvent>) {
    let mut resolutions = Vec::new();
    let mut events = Vec::new();
    for cmd in pending.iter().filter(|c| c.effective_at <= now) {
        let (status, kind, detail) = match device.state.apply(cmd.kind) {
            Ok(next) => {
                device.state = next;
                release_clears_arrears(device);
                (
                    CommandStatus::Applied,
                    EventKind::for_applied(cmd.kind),
                    format!("scheduled command {}", cmd.id),
                )
            }
            Err(why) => (
                CommandStatus::Superseded,
                EventKind::CommandSuperseded,
                format!("{} command {}: {why}", cmd.kind.as_str(), cmd.id),
            ),
        };
        resolutions.push(CommandResolution {
            id: cmd.id,
            status,
            at: now,
        });
        let mut e = event(device, now, kind, &Actor::Scheduler);
        e.reason = Some(cmd.reason.clone());
        e.detail = Some(detail);
        events.push(e);
    }
    let cancelled = cancel_rest_if_released(
        device,
        pending,
        &resolutions,
        (now, &Actor::Scheduler),
        &mut events,
    );
    resolutions.extend(cancelled);
    (resolutions, events)
}

/// Cancels every command in `pending` (the device was released, so nothing may lock it
/// again), recording who did it.
pub(super) fn cancel_all(
    device: &Device,
    pending: &[Command],
    by: (Timestamp, &Actor),
    events: &mut Vec<TimelineEvent>,
) -> Vec<CommandResolution> {
    cancel_rest_if_released(device, pending, &[], by, events)
}

/// Once a device is released nothing may lock it again: every other pending command is
/// cancelled in the same write.
fn cancel_rest_if_released(
    device: &Device,
    pending: &[Command],
    already: &[CommandResolution],
    (now, actor): (Timestamp, &Actor),
    events: &mut Vec<TimelineEvent>,
) -> Vec<CommandResolution> {
    if device.state != lienlock_domain::DeviceState::Released {
        return Vec::new();
    }
    pending
        .iter()
        .filter(|c| !already.iter().any(|r| r.id == c.id))
        .map(|c| {
            let mut e = event(device, now, EventKind::CommandCancelled, actor);
            e.detail = Some(format!(
                "{} command {} cancelled by release",
                c.kind.as_str(),
                c.id
            ));
            events.push(e);
            CommandResolution {
                id: c.id,
                status: CommandStatus::Cancelled,
                at: now,
            }
        })
        .collect()
}

impl Service {
    /// Accepts a lock, unlock or release: applied now, or stored for its time.
    pub async fn command(
        &self,
        ctx: &LenderCtx,
        id: DeviceId,
        req: CommandRequest,
    ) -> Result<(Command, Device), ServiceError> {
        ctx.require(Permission::Command)?;
        let reason = BoundedText::<500>::parse(&req.reason).map_err(|e| ServiceError::Invalid {
            field: "reason",
            why: e.to_string(),
        })?;
        let actor = Actor::from(ctx.principal);
        retry_stale(|| async {
            let mut device = self.device(ctx, id).await?;
            let pending = self.store.pending_commands_unscoped(id).await?;
            let now = self.clock.now();
            // Commands already due are applied first, so this one acts on the current state.
            let (mut resolved, mut events) = resolve_due(&mut device, &pending, now);
            let scheduled = req.at.filter(|at| *at > now);
            let mut cmd = Command {
                id: CommandId::new(),
                device_id: id,
                lender_id: ctx.lender_id,
                kind: req.kind,
                reason: reason.to_string(),
                status: CommandStatus::Pending,
                requested_by: actor.clone(),
                requested_at: now,
                effective_at: scheduled.unwrap_or(now),
                resolved_at: None,
            };
            let mut e = event(&device, now, EventKind::CommandScheduled, &actor);
            e.reason = Some(cmd.reason.clone());
            match scheduled {
                Some(at) => {
                    if device.state == lienlock_domain::DeviceState::Released {
                        return Err(ServiceError::Transition(
                            lienlock_domain::TransitionError::Released,
                        ));
                    }
                    e.detail = Some(format!(
                        "{} command {} at {}",
                        req.kind.as_str(),
                        cmd.id,
                        crate::views::rfc3339(at)
                    ));
                    events.push(e);
                }
                None => {
                    device.state = device
                        .state
                        .apply(req.kind)
                        .map_err(ServiceError::Transition)?;
                    release_clears_arrears(&mut device);
                    cmd.status = CommandStatus::Applied;
                    cmd.resolved_at = Some(now);
                    e.kind = EventKind::for_applied(req.kind);
                    e.detail = Some(format!("command {}", cmd.id));
                    events.push(e);
                    let still_pending: Vec<_> = pending
                        .iter()
                        .filter(|c| !resolved.iter().any(|r| r.id == c.id))
                        .cloned()
                        .collect();
                    resolved.extend(cancel_rest_if_released(
                        &device,
                        &still_pending,
                        &[],
                        (now, &actor),
                        &mut events,
                    ));
                }
            }
            device.updated_at = now;
            let write = DeviceWrite {
                new_commands: vec![cmd.clone()],
                resolved_commands: resolved,
                events,
                ..DeviceWrite::new(device.clone())
            };
            self.store.save_device(&write).await?;
            device.version += 1;
            self.wake(&[device.id]).await;
            Ok((cmd, device))
        })
        .await
    }

    /// Trusts the key that registered after the device's first one (the lender checked the
    /// phone in person, say). The old key stops working. `key` must be the pending key the
    /// lender looked at: if another key replaced it meanwhile, nothing is approved.
    pub async fn approve_key(
        &self,
        ctx: &LenderCtx,
        id: DeviceId,
        key: [u8; 32],
        reason: &str,
    ) -> Result<Device, ServiceError> {
        ctx.require(Permission::Command)?;
        let reason = BoundedText::<500>::parse(reason).map_err(|e| ServiceError::Invalid {
            field: "reason",
            why: e.to_string(),
        })?;
        retry_stale(|| async {
            let mut device = self.device(ctx, id).await?;
            let Some(pending) = device
                .pending_key
                .filter(|_| device.key_status == KeyStatus::ChangePending)
            else {
                return Err(ServiceError::NoPendingKey);
            };
            if key != pending {
                return Err(ServiceError::PendingKeyChanged);
            }
            let now = self.clock.now();
            device.retired_key = device.device_key;
            device.retired_counter = device.last_counter;
            device.device_key = Some(key);
            device.pending_key = None;
            device.last_counter = device.pending_counter;
            device.pending_counter = 0;
            device.key_status = KeyStatus::Bound;
            device.updated_at = now;
            let mut e = event(
                &device,
                now,
                EventKind::KeyApproved,
                &Actor::from(ctx.principal),
            );
            e.reason = Some(reason.to_string());
            e.detail = Some(format!("key {}", hex::encode(key)));
            self.store
                .save_device(&DeviceWrite {
                    events: vec![e],
                    ..DeviceWrite::new(device.clone())
                })
                .await?;
            device.version += 1;
            self.wake(&[device.id]).await;
            Ok(device)
        })
        .await
    }

    /// Applies scheduled commands that have come due, across all lenders. Returns how many
    /// devices changed. Safe to run on every node at once: a device another node changed
    /// first fails its version check here and is left to that node.
    pub async fn apply_due_commands(&self, limit: u32) -> Result<usize, ServiceError> {
        let now = self.clock.now();
        let due = self.store.due_commands(now, limit).await?;
        let mut seen = std::collections::HashSet::new();
        let devices: Vec<DeviceId> = due
            .iter()
            .map(|c| c.device_id)
            .filter(|d| seen.insert(*d))
            .collect();
        let mut changed = 0;
        for id in devices {
            let Some(mut device) = self.store.device_unscoped(id).await? else {
                continue;
            };
            let pending = self.store.pending_commands_unscoped(id).await?;
            let (resolved, events) = resolve_due(&mut device, &pending, now);
            if resolved.is_empty() {
                continue;
            }
            device.updated_at = now;
            let write = DeviceWrite {
                resolved_commands: resolved,
                events,
                ..DeviceWrite::new(device)
            };
            match self.store.save_device(&write).await {
                Ok(()) => {
                    changed += 1;
                    self.wake(&[id]).await;
                }
                Err(lienlock_store::StoreError::Stale) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(changed)
    }
}
