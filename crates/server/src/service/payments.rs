//! The payments ledger: recording payments exactly once, matching them to contracts,
//! reversals, and the unmatched list.

use super::{PaymentCode, Service, ServiceError};
use lienlock_domain::Permission;
use lienlock_domain::{
    BoundedText, ContractId, Currency, EntryKind, EventKind, Imei, Ledger, LedgerEntry, LenderCtx,
    PaymentId, Timestamp,
};
use lienlock_store::{
    Actor, ContractRecord, PaymentInsert, PaymentRecord, StoreError, TimelineEvent,
};

/// A payment as a lender's integration reports it.
#[derive(Debug, Clone)]
pub struct PaymentRequest {
    /// The contract it pays, when the payer named it.
    pub contract_id: Option<String>,
    /// The financed phone's IMEI, when the payer named that instead.
    pub imei: Option<String>,
    /// The lender's contract reference, when the payer named that instead.
    pub reference: Option<String>,
    /// Minor units; positive.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// When the money arrived (defaults to now).
    pub received_at: Option<Timestamp>,
    /// Where it came from ("api", "mpesa", "csv:FILE").
    pub channel: String,
    /// The provider's transaction id; a second payment with the same channel and id is the
    /// same payment.
    pub external_ref: Option<String>,
}

/// The answer to recording a payment.
#[derive(Debug, Clone)]
pub struct PaymentOutcome {
    /// The entry as stored.
    pub payment: PaymentRecord,
    /// True when this request repeated an earlier one (same idempotency key or external
    /// reference) and nothing new was written.
    pub replayed: bool,
    /// The offline unlock code for the borrower's receipt, or why there is none; `None`
    /// for entries that never carry one (reversals, unmatched payments).
    pub code: Option<PaymentCode>,
}

fn text<const N: usize>(field: &'static str, s: &str) -> Result<String, ServiceError> {
    BoundedText::<N>::parse(s)
        .map(String::from)
        .map_err(|e| ServiceError::Invalid {
            field,
            why: e.to_string(),
        })
}

impl Service {
    /// Records a payment exactly once. `request_hash` identifies the request body: the same
    /// idempotency key with another body is refused. A payment that matches no contract is
    /// kept as unmatched, never dropped.
    pub async fn record_payment(
        &self,
        ctx: &LenderCtx,
        idempotency_key: Option<&str>,
        request_hash: [u8; 32],
        req: PaymentRequest,
    ) -> Result<PaymentOutcome, ServiceError> {
        ctx.require(Permission::RecordPayments)?;
        if req.amount <= 0 {
            return Err(ServiceError::Invalid {
                field: "amount",
                why: "must be a positive number of minor units".into(),
            });
        }
        let currency = Currency::parse(&req.currency).map_err(|e| ServiceError::Invalid {
            field: "currency",
            why: e.to_string(),
        })?;
        let key = idempotency_key
            .map(|k| text::<200>("Idempotency-Key", k))
            .transpose()?;
        let channel = text::<100>("channel", &req.channel)?;
        let external_ref = req
            .external_ref
            .as_deref()
            .map(|r| text::<200>("external_ref", r))
            .transpose()?;
        let (contract, hint) = self.match_contract(ctx, &req).await?;
        if let Some(c) = &contract {
            if c.terms.currency() != currency {
                return Err(ServiceError::Invalid {
                    field: "currency",
                    why: format!(
                        "the contract is in {}, the payment in {currency}",
                        c.terms.currency()
                    ),
                });
            }
        }
        let now = self.clock.now();
        let payment = PaymentRecord {
            id: PaymentId::new(),
            lender_id: ctx.lender_id,
            contract_id: contract.as_ref().map(|c| c.id),
            kind: EntryKind::Payment,
            amount: req.amount,
            currency,
            received_at: req.received_at.unwrap_or(now),
            recorded_at: now,
            channel,
            external_ref,
            payer_hint: hint,
            idempotency_key: key,
            request_hash,
            assigned_at: None,
        };
        let mut outcome = self
            .insert_entry(ctx, payment, contract.as_ref(), now)
            .await?;
        if let Some(c) = &contract {
            outcome.code = Some(self.code_with_payment(ctx, c, &outcome).await);
        }
        Ok(outcome)
    }

    /// The code for a payment's receipt. The payment is already durable, so a failure here
    /// must not fail the request (a retry would only be a replay): staff can issue the
    /// code by hand.
    async fn code_with_payment(
        &self,
        ctx: &LenderCtx,
        contract: &ContractRecord,
        outcome: &PaymentOutcome,
    ) -> PaymentCode {
        if contract.state != lienlock_domain::ContractState::Active {
            return PaymentCode::None("the contract is not active".into());
        }
        match self
            .payment_code(ctx, contract, &outcome.payment, outcome.replayed)
            .await
        {
            Ok(code) => code,
            Err(ServiceError::CodeUnavailable(why)) => PaymentCode::None(why),
            Err(e) => {
                tracing::warn!(error = %e, payment = %outcome.payment.id, "no code issued with a payment");
                PaymentCode::None(format!(
                    "a code could not be issued now ({e}); issue one for the device by hand"
                ))
            }
        }
    }

    /// Reverses (part of) an earlier payment: a chargeback or a bounced transfer. It is a new
    /// entry, and may re-open arrears.
    pub async fn reverse_payment(
        &self,
        ctx: &LenderCtx,
        of: PaymentId,
        amount: Option<i64>,
        idempotency_key: Option<&str>,
        request_hash: [u8; 32],
    ) -> Result<PaymentOutcome, ServiceError> {
        ctx.require(Permission::RecordPayments)?;
        let key = idempotency_key
            .map(|k| text::<200>("Idempotency-Key", k))
            .transpose()?;
        let original = self.find_payment(ctx, of).await?;
        let contract = match original.contract_id {
            Some(id) => self.store.contract(ctx, id).await?,
            None => None,
        };
        let now = self.clock.now();
        let reversal = PaymentRecord {
            id: PaymentId::new(),
            lender_id: ctx.lender_id,
            contract_id: original.contract_id,
            kind: EntryKind::Reversal { of },
            amount: amount.unwrap_or(original.amount),
            currency: original.currency,
            received_at: now,
            recorded_at: now,
            channel: original.channel.clone(),
            external_ref: None,
            payer_hint: original.payer_hint.clone(),
            idempotency_key: key,
            request_hash,
            assigned_at: None,
        };
        // The ledger's own rules: a reversal names a payment and never takes back more
        // than it brought.
        if let Some(c) = &contract {
            let mut entries: Vec<LedgerEntry> = self
                .store
                .contract_payments(ctx, c.id)
                .await?
                .iter()
                .map(PaymentRecord::ledger_entry)
                .collect();
            entries.push(reversal.ledger_entry());
            Ledger::validate(&entries).map_err(ServiceError::Ledger)?;
        } else {
            Ledger::validate(&[original.ledger_entry(), reversal.ledger_entry()])
                .map_err(ServiceError::Ledger)?;
        }
        self.insert_entry(ctx, reversal, contract.as_ref(), now)
            .await
    }

    /// The caller's payments that match no contract yet.
    pub async fn unmatched_payments(
        &self,
        ctx: &LenderCtx,
        after: Option<PaymentId>,
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, ServiceError> {
        ctx.require(Permission::ReadPayments)?;
        Ok(self.store.unmatched_payments(ctx, after, limit).await?)
    }

    /// Assigns an unmatched payment to a contract; the contract is re-evaluated at once.
    pub async fn assign_payment(
        &self,
        ctx: &LenderCtx,
        payment: PaymentId,
        contract: ContractId,
    ) -> Result<PaymentRecord, ServiceError> {
        ctx.require(Permission::RecordPayments)?;
        let now = self.clock.now();
        let assigned = self
            .store
            .assign_payment(ctx, payment, contract, now)
            .await
            .map_err(not_found_as_404)?;
        if let Some(c) = self.store.contract(ctx, contract).await? {
            self.record_payment_event(ctx, &c, &assigned, now).await?;
        }
        Ok(assigned)
    }

    async fn insert_entry(
        &self,
        ctx: &LenderCtx,
        entry: PaymentRecord,
        contract: Option<&ContractRecord>,
        now: Timestamp,
    ) -> Result<PaymentOutcome, ServiceError> {
        // The timeline entry goes in the payment's own transaction: an acknowledged
        // payment is never missing from the device's timeline.
        let inserted = match contract {
            Some(c) => {
                let event = payment_event(ctx, c, &entry, now);
                self.store
                    .insert_payment_with_event(ctx, &entry, now, &event)
                    .await
            }
            None => self.store.insert_payment(ctx, &entry, now).await,
        };
        match inserted.map_err(not_found_as_404)? {
            PaymentInsert::Existing(existing) => {
                if existing.request_hash != entry.request_hash {
                    return Err(ServiceError::IdempotencyConflict);
                }
                Ok(PaymentOutcome {
                    payment: existing,
                    replayed: true,
                    code: None,
                })
            }
            PaymentInsert::Inserted => Ok(PaymentOutcome {
                payment: entry,
                replayed: false,
                code: None,
            }),
        }
    }

    /// Puts an assigned payment on the device's timeline. Best effort after the
    /// assignment itself is durable: losing this entry to a crash loses an explanation,
    /// never money. (A payment recorded matched gets its entry in its own transaction.)
    async fn record_payment_event(
        &self,
        ctx: &LenderCtx,
        contract: &ContractRecord,
        entry: &PaymentRecord,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        self.store
            .append_events(&[payment_event(ctx, contract, entry, now)])
            .await?;
        Ok(())
    }

    /// The contract a payment request names, and what to remember when it names none that
    /// exists.
    async fn match_contract(
        &self,
        ctx: &LenderCtx,
        req: &PaymentRequest,
    ) -> Result<(Option<ContractRecord>, Option<String>), ServiceError> {
        if let Some(id) = &req.contract_id {
            if let Ok(id) = id.parse::<ContractId>() {
                if let Some(c) = self.store.contract(ctx, id).await? {
                    return Ok((Some(c), None));
                }
            }
            return Ok((None, Some(format!("contract {}", truncate(id)))));
        }
        if let Some(imei) = &req.imei {
            if let Ok(imei) = Imei::parse(imei) {
                if let Some(device) = self.store.device_by_imei(ctx, &imei).await? {
                    if let Some(c) = self.store.contract_for_device(ctx, device.id).await? {
                        return Ok((Some(c), None));
                    }
                }
            }
            return Ok((None, Some(format!("IMEI {}", truncate(imei)))));
        }
        if let Some(reference) = &req.reference {
            if let Some(c) = self.store.contract_by_reference(ctx, reference).await? {
                return Ok((Some(c), None));
            }
            return Ok((None, Some(format!("reference {}", truncate(reference)))));
        }
        Ok((None, None))
    }

    async fn find_payment(
        &self,
        ctx: &LenderCtx,
        id: PaymentId,
    ) -> Result<PaymentRecord, ServiceError> {
        self.store
            .payment(ctx, id)
            .await?
            .ok_or(ServiceError::NotFound)
    }
}

/// The timeline entry of a ledger entry on `contract`'s device.
fn payment_event(
    ctx: &LenderCtx,
    contract: &ContractRecord,
    entry: &PaymentRecord,
    now: Timestamp,
) -> TimelineEvent {
    let (kind, verb) = match entry.kind {
        EntryKind::Payment => (EventKind::PaymentRecorded, "payment"),
        EntryKind::Reversal { .. } => (EventKind::PaymentReversed, "reversal"),
    };
    TimelineEvent {
        id: lienlock_domain::EventId::new(),
        seq: 0,
        device_id: contract.device_id,
        lender_id: contract.lender_id,
        at: now,
        kind,
        actor: Actor::from(ctx.principal),
        reason: None,
        detail: Some(format!(
            "{verb} {} of {} via {}",
            entry.id,
            lienlock_domain::Money::new(entry.currency, entry.amount),
            entry.channel
        )),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

fn not_found_as_404(e: StoreError) -> ServiceError {
    match e {
        StoreError::NotFound(_) => ServiceError::NotFound,
        other => other.into(),
    }
}
