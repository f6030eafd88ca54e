//! Offline unlock codes: minted with a payment or by staff, reconciled when the device
//! reports it took them.
//!
//! A code's key is derived from the secret the server and the device share (X25519 of the
//! lease-signing key and the device's bound identity key), so nothing secret is stored per
//! device and no key is ever sent. A code is only money's receipt for the device: the
//! payment is in the ledger once, whatever happens to its code.

use super::evaluate::Facts;
use super::{policy, Service, ServiceError};
use jiff::civil::Date;
use lienlock_domain::Permission;
use lienlock_domain::{
    code_paid_until, CodeFormat, CodeGrantKind, DeviceId, DeviceState, EventKind, KeyStatus,
    LenderCtx, PaymentId, Timestamp, UnlockCodeId,
};
use lienlock_store::{
    Actor, CodeInsert, ContractRecord, Device, PaymentRecord, StoreError, TimelineEvent,
    UnlockCodeRecord,
};
use lienlock_wire::unlock_code::{
    CodeKey, CodeKind, UnlockCode, COUNTER_WINDOW, FIRST_DATE, LAST_DATE,
};

/// Attempts at a free counter when other nodes mint for the same device at the same moment.
const MINT_ATTEMPTS: usize = 5;

/// A code staff asks for by hand.
#[derive(Debug, Clone)]
pub struct CodeRequest {
    /// What it grants; `unlock` unless the device is locked by the lender's own decision.
    pub kind: Option<CodeGrantKind>,
    /// Its date; by default what a payment's code would carry today.
    pub paid_until: Option<Date>,
    /// Why (kept with the code and on the timeline).
    pub reason: String,
}

/// What came of asking for a code with a payment.
#[derive(Debug, Clone)]
pub enum PaymentCode {
    /// The code to give the borrower.
    Issued(Box<UnlockCodeRecord>),
    /// Why there is none (the account is still behind, the phone never connected, ...).
    None(String),
}

impl Service {
    /// Issues a code for one of the caller's devices by hand (support on the phone with a
    /// borrower whose phone has no data). Staff who may lock and unlock may do this.
    pub async fn issue_code(
        &self,
        ctx: &LenderCtx,
        device: DeviceId,
        req: CodeRequest,
    ) -> Result<UnlockCodeRecord, ServiceError> {
        ctx.require(Permission::Command)?;
        let reason = lienlock_domain::BoundedText::<500>::parse(&req.reason)
            .map_err(|e| ServiceError::Invalid {
                field: "reason",
                why: e.to_string(),
            })?
            .to_string();
        let device = self
            .store
            .device(ctx, device)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let now = self.clock.now();
        let paid_until = match req.paid_until {
            Some(d) => d,
            None => {
                let contract = self
                    .store
                    .contract_for_device(ctx, device.id)
                    .await?
                    .ok_or_else(|| {
                        ServiceError::CodeUnavailable(
                            "the device has no active contract: give paid_until".into(),
                        )
                    })?;
                self.paid_until(&contract, now)
                    .await?
                    .map_err(ServiceError::CodeUnavailable)?
            }
        };
        let today = jiff::Timestamp::from_millisecond(now.as_millis())
            .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
            .unwrap_or(FIRST_DATE);
        let latest = today.saturating_add(jiff::Span::new().days(lienlock_domain::MAX_CODE_DAYS));
        if paid_until < today || paid_until > latest {
            return Err(ServiceError::Invalid {
                field: "paid_until",
                why: format!("must be from {today} to {latest}"),
            });
        }
        let kind = req.kind.unwrap_or_else(|| default_kind(&device));
        self.mint(
            ctx,
            &device,
            kind,
            paid_until,
            None,
            Actor::from(ctx.principal),
            Some(reason),
        )
        .await
    }

    /// The code that goes with a payment just recorded (or, for a repeated request, the
    /// one that went with it the first time). The contract is evaluated first, so the
    /// code reflects the payment.
    pub(super) async fn payment_code(
        &self,
        ctx: &LenderCtx,
        contract: &ContractRecord,
        payment: &PaymentRecord,
        replayed: bool,
    ) -> Result<PaymentCode, ServiceError> {
        // A new payment has no code yet; only a repeated request looks one up.
        if replayed {
            return Ok(match self.store.code_for_payment(ctx, payment.id).await? {
                Some(code) => PaymentCode::Issued(Box::new(code)),
                None => PaymentCode::None("no code was issued with this payment".into()),
            });
        }
        // The payment woke the contract; evaluating now (rather than at the scheduler's
        // next tick) also lifts an online phone's restriction at once.
        let Some(basis) = self.evaluate_for_code(contract.id).await? else {
            return Ok(PaymentCode::None("the contract is not active".into()));
        };
        if let Some(why) = unable(&basis.device) {
            return Ok(PaymentCode::None(why.into()));
        }
        let paid_until = match basis.paid_until {
            Ok(d) => d.clamp(FIRST_DATE, LAST_DATE),
            Err(why) => return Ok(PaymentCode::None(why)),
        };
        let kind = default_kind(&basis.device);
        let code = self
            .mint(
                ctx,
                &basis.device,
                kind,
                paid_until,
                Some(payment.id),
                Actor::from(ctx.principal),
                None,
            )
            .await?;
        Ok(PaymentCode::Issued(Box::new(code)))
    }

    /// The caller's codes for a device, newest first.
    pub async fn device_codes(
        &self,
        ctx: &LenderCtx,
        device: DeviceId,
        limit: u32,
    ) -> Result<Vec<UnlockCodeRecord>, ServiceError> {
        self.store
            .device_codes(ctx, device, limit.clamp(1, 500))
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// What a code issued now for `contract` carries, or why there is none.
    async fn paid_until(
        &self,
        contract: &ContractRecord,
        now: Timestamp,
    ) -> Result<Result<Date, String>, ServiceError> {
        let Some(f) = self.contract_facts(contract.clone()).await? else {
            return Ok(Err("the contract's device is gone".into()));
        };
        let lender = self
            .store
            .lender_by_id(contract.lender_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let facts = Facts::from_records(&f)?;
        let (profile, settings) = policy::effective(&lender, contract)?;
        let input = facts.input(contract, &f.device, now, &settings, profile);
        let standing = lienlock_domain::evaluate(&input).standing;
        Ok(code_paid_until(
            &standing,
            settings.restricted_apps_after_days,
            standing.as_of,
        )
        .map(|d| d.clamp(FIRST_DATE, LAST_DATE))
        .map_err(|e| e.to_string()))
    }

    /// Mints the device's next code and stores it with its timeline entry.
    #[allow(clippy::too_many_arguments)]
    async fn mint(
        &self,
        ctx: &LenderCtx,
        device: &Device,
        kind: CodeGrantKind,
        paid_until: Date,
        payment: Option<PaymentId>,
        by: Actor,
        reason: Option<String>,
    ) -> Result<UnlockCodeRecord, ServiceError> {
        if let Some(why) = unable(device) {
            return Err(ServiceError::CodeUnavailable(why.into()));
        }
        let format = self
            .store
            .device_code_format(ctx, device.id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if format != CodeFormat::Lc1 {
            return Err(ServiceError::CodeUnavailable(format!(
                "this device is configured for {format} codes, which lienlock phones do not take"
            )));
        }
        // The phone restores a code's counter within 32 above the highest it knows, which
        // every check-in's lease moves up to the latest code. A 33rd code issued since the
        // last check-in would read as a wrong guess on the phone and cost it a lockout.
        let recent = self
            .store
            .device_codes(ctx, device.id, COUNTER_WINDOW)
            .await?
            .unwrap_or_default();
        let since_checkin = recent
            .iter()
            .filter(|c| device.last_seen_at.is_none_or(|seen| c.issued_at >= seen))
            .count();
        if since_checkin >= COUNTER_WINDOW as usize {
            return Err(ServiceError::CodeUnavailable(format!(
                "{COUNTER_WINDOW} codes were issued since the phone last connected; it must \
                 connect once before it can take another"
            )));
        }
        let shared = device
            .device_key
            .and_then(|k| self.signer.agree_with_device(&k))
            .ok_or_else(|| {
                ServiceError::CodeUnavailable("the device key cannot take codes".into())
            })?;
        let key = CodeKey::agreed(&shared, &device.id);
        for _ in 0..MINT_ATTEMPTS {
            let counter = self.store.last_code_counter(device.id, format).await? + 1;
            let code = UnlockCode {
                kind: match kind {
                    CodeGrantKind::ExtendUntil => CodeKind::ExtendUntil,
                    CodeGrantKind::Unlock => CodeKind::Unlock,
                },
                counter,
                paid_until,
            };
            let text = code
                .encode(&key, &device.id)
                .map_err(|e| ServiceError::Invalid {
                    field: "paid_until",
                    why: e.to_string(),
                })?;
            let now = self.clock.now();
            let record = UnlockCodeRecord {
                id: UnlockCodeId::new(),
                lender_id: ctx.lender_id,
                device_id: device.id,
                format,
                counter,
                kind,
                paid_until,
                code: text,
                payment_id: payment,
                issued_at: now,
                issued_by: by.clone(),
                reason: reason.clone(),
                redeemed_at: None,
            };
            let mut event = TimelineEvent::new(device, now, EventKind::CodeIssued, by.clone());
            event.detail = Some(format!(
                "code {counter} ({}) until {paid_until}{}",
                kind.as_str(),
                match (&payment, &reason) {
                    (Some(p), _) => format!(" with payment {p}"),
                    (None, Some(r)) => format!(": {r}"),
                    (None, None) => String::new(),
                }
            ));
            match self.store.insert_unlock_code(ctx, &record, &event).await {
                Ok(CodeInsert::Inserted) => return Ok(record),
                Ok(CodeInsert::ExistingForPayment(existing)) => return Ok(*existing),
                Err(StoreError::Duplicate(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended)
    }

    /// Marks the codes a device reports it took as redeemed, returning the timeline
    /// entries to record with the check-in.
    pub(super) async fn redeem_reported(
        &self,
        device: &Device,
        counters: &[u32],
        now: Timestamp,
    ) -> Result<Vec<TimelineEvent>, ServiceError> {
        let marked = self
            .store
            .redeem_codes_unscoped(device.id, CodeFormat::Lc1, counters, now)
            .await?;
        Ok(marked
            .iter()
            .map(|c| {
                let mut e = TimelineEvent::new(device, now, EventKind::CodeRedeemed, Actor::Device);
                e.detail = Some(format!(
                    "the phone took code {} ({}) until {}",
                    c.counter,
                    c.kind.as_str(),
                    c.paid_until
                ));
                e
            })
            .collect())
    }
}

/// Why a device cannot be given a code, if it cannot.
fn unable(device: &Device) -> Option<&'static str> {
    if device.state == DeviceState::Released {
        Some("the phone is released and needs no code")
    } else if device.key_status != KeyStatus::Bound || device.device_key.is_none() {
        Some("the phone has not connected with its own key yet, so it cannot check a code")
    } else {
        None
    }
}

/// `Unlock`, except that a lock the lender imposed by hand stays: the code then only keeps
/// a phone running past an expired lease.
fn default_kind(device: &Device) -> CodeGrantKind {
    if device.state == DeviceState::Locked {
        CodeGrantKind::ExtendUntil
    } else {
        CodeGrantKind::Unlock
    }
}
