//! Installment contracts: attaching one to a device and reading it back with its standing.

use super::evaluate::Facts;
use super::{policy, Service, ServiceError};
use lienlock_domain::Permission;
use lienlock_domain::{
    BoundedText, ContractId, ContractState, ContractTerms, DeviceId, DeviceState, EventKind,
    LenderCtx, PolicyDecision, PolicyOverrides, TermsSpec,
};
use lienlock_store::{Actor, ContractRecord, StoreError, TimelineEvent};

/// What a lender sends to create a contract.
#[derive(Debug, Clone)]
pub struct ContractRequest {
    /// The financed device.
    pub device_id: DeviceId,
    /// The lender's own reference (loan number), unique per lender.
    pub reference: Option<String>,
    /// Money and schedule.
    pub terms: TermsSpec,
    /// Per-contract policy changes, no looser than the lender's profile.
    pub policy: Option<PolicyOverrides>,
}

/// A contract with where it stands now.
#[derive(Debug, Clone)]
pub struct ContractStatus {
    /// The contract.
    pub contract: ContractRecord,
    /// What the policy engine says now.
    pub decision: PolicyDecision,
    /// The decision in plain words.
    pub explanation: String,
}

impl Service {
    /// Attaches a contract to one of the caller's devices. The scheduler evaluates it at once.
    pub async fn create_contract(
        &self,
        ctx: &LenderCtx,
        req: ContractRequest,
    ) -> Result<ContractRecord, ServiceError> {
        ctx.require(Permission::Enroll)?;
        let terms = ContractTerms::new(req.terms).map_err(ServiceError::Contract)?;
        let reference = req
            .reference
            .as_deref()
            .map(|r| {
                BoundedText::<100>::parse(r)
                    .map(String::from)
                    .map_err(|e| ServiceError::Invalid {
                        field: "reference",
                        why: e.to_string(),
                    })
            })
            .transpose()?;
        let device = self.device(ctx, req.device_id).await?;
        if device.state == DeviceState::Released {
            return Err(ServiceError::Transition(
                lienlock_domain::TransitionError::Released,
            ));
        }
        let lender = self.lender(ctx).await?;
        let policy = match &req.policy {
            Some(o) => {
                policy::check_overrides(&lender, o)?;
                Some(serde_json::to_string(o).map_err(|e| ServiceError::Invalid {
                    field: "policy",
                    why: e.to_string(),
                })?)
            }
            None => None,
        };
        let now = self.clock.now();
        let contract = ContractRecord {
            id: ContractId::new(),
            lender_id: ctx.lender_id,
            device_id: device.id,
            reference,
            terms,
            policy,
            state: ContractState::Active,
            created_at: now,
            updated_at: now,
            next_evaluation_at: Some(now),
            version: 0,
            wake_seq: 0,
        };
        let mut event = TimelineEvent::new(
            &device,
            now,
            EventKind::ContractCreated,
            Actor::from(ctx.principal),
        );
        event.detail = Some(describe_terms(&contract));
        self.store
            .create_contract(ctx, &contract, &event)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => ServiceError::NotFound,
                other => other.into(),
            })?;
        Ok(contract)
    }

    /// One of the caller's contracts with its standing and what the policy engine says now.
    pub async fn contract_status(
        &self,
        ctx: &LenderCtx,
        id: ContractId,
    ) -> Result<ContractStatus, ServiceError> {
        let contract = self
            .store
            .contract(ctx, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.status_of(ctx, contract).await
    }

    /// The contract of one of the caller's devices (the active one, else the newest).
    pub async fn device_contract(
        &self,
        ctx: &LenderCtx,
        device: DeviceId,
    ) -> Result<ContractStatus, ServiceError> {
        let contract = self
            .store
            .contract_for_device(ctx, device)
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.status_of(ctx, contract).await
    }

    async fn status_of(
        &self,
        ctx: &LenderCtx,
        contract: ContractRecord,
    ) -> Result<ContractStatus, ServiceError> {
        // Scoped above: the contract is the caller's, and so is its device.
        let lender = self.lender(ctx).await?;
        let records = self
            .contract_facts(contract)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let facts = Facts::from_records(&records)?;
        let (device, contract) = (records.device, records.contract);
        let (profile, settings) = policy::effective(&lender, &contract)?;
        let input = facts.input(&contract, &device, self.clock.now(), &settings, profile);
        let decision = lienlock_domain::evaluate(&input);
        let explanation = lienlock_domain::explain(&input, &decision);
        Ok(ContractStatus {
            contract,
            decision,
            explanation,
        })
    }
}

/// "KES 12,000.00 in 12 monthly installments, first due 2026-12-01".
fn describe_terms(c: &ContractRecord) -> String {
    let t = &c.terms;
    let n = t.installments().len();
    let first = t
        .installments()
        .first()
        .map(|i| i.due.to_string())
        .unwrap_or_default();
    format!(
        "contract {}: {} owed in {n} installment{}, first due {first}",
        c.id,
        lienlock_domain::Money::new(t.currency(), t.amount_owed()),
        if n == 1 { "" } else { "s" }
    )
}
