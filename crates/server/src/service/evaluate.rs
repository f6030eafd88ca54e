//! Automatic enforcement: evaluating contracts whose time has come and applying the policy
//! engine's decision to the device, its notices and its timeline in one atomic write.

use super::{commands, policy, retry_stale, Service, ServiceError};
use lienlock_domain::{
    AppliedLevel, BoundedText, ContractId, ContractState, DeviceState, Dispute, DisputeOpener,
    EventKind, LedgerEntry, Money, Notice, NoticeId, NoticeKind, PolicyInput, RestrictionLevel,
    Standing,
};
use lienlock_store::{Actor, ContractRecord, DeviceWrite, NoticeRecord, StoreError, TimelineEvent};

/// What the engine reads about one contract, loaded from storage.
#[derive(Debug, Default)]
pub(super) struct Facts {
    pub(super) entries: Vec<LedgerEntry>,
    pub(super) notices: Vec<Notice>,
    pub(super) disputes: Vec<Dispute>,
}

impl Facts {
    /// The engine's input for `contract` on `device` at `now`.
    pub(super) fn input<'a>(
        &'a self,
        contract: &'a ContractRecord,
        device: &lienlock_store::Device,
        now: lienlock_domain::Timestamp,
        settings: &'a lienlock_domain::PolicySettings,
        profile: &'static lienlock_domain::ComplianceProfile,
    ) -> PolicyInput<'a> {
        PolicyInput {
            state: contract.state,
            terms: &contract.terms,
            entries: &self.entries,
            notices: &self.notices,
            disputes: &self.disputes,
            applied: AppliedLevel {
                level: device.policy_level,
                since: device.policy_level_since,
            },
            now,
            // Quiet hours are the lender's zone until devices report their own.
            device_zone: contract.terms.time_zone(),
            settings,
            profile,
        }
    }
}

fn corrupt(table: &'static str, why: String) -> ServiceError {
    ServiceError::Store(StoreError::Corrupt { table, why })
}

impl Service {
    /// Loads a contract's ledger, notices and disputes as the domain sees them.
    pub(super) async fn facts(&self, contract: &ContractRecord) -> Result<Facts, ServiceError> {
        let entries = self
            .store
            .contract_payments_unscoped(contract.id)
            .await?
            .iter()
            .map(|p| p.ledger_entry())
            .collect();
        let notices = self
            .store
            .contract_notices(contract.id)
            .await?
            .into_iter()
            .map(|n| {
                Ok(Notice {
                    id: n.id,
                    kind: NoticeKind::parse(&n.kind)
                        .ok_or_else(|| corrupt("notices", format!("kind {:?}", n.kind)))?,
                    created_at: n.created_at,
                    delivered_at: n.delivered_at,
                })
            })
            .collect::<Result<_, ServiceError>>()?;
        let disputes = self
            .store
            .contract_disputes_unscoped(contract.id)
            .await?
            .into_iter()
            .map(|d| {
                Ok(Dispute {
                    id: d.id,
                    opened_by: match d.opened_by {
                        Actor::Device => DisputeOpener::Borrower,
                        _ => DisputeOpener::Support,
                    },
                    reason: BoundedText::parse(&d.reason)
                        .map_err(|e| corrupt("disputes", e.to_string()))?,
                    opened_at: d.opened_at,
                    closed_at: d.closed_at,
                    temporary_unlock_until: d.temporary_unlock_until,
                })
            })
            .collect::<Result<_, ServiceError>>()?;
        Ok(Facts {
            entries,
            notices,
            disputes,
        })
    }

    /// Evaluates every contract whose evaluation time has come, at most `limit`. Returns how
    /// many were evaluated. Safe on every node at once and after a restart: each decision
    /// lands only if neither the device nor the contract changed since it was read.
    pub async fn evaluate_due_contracts(&self, limit: u32) -> Result<usize, ServiceError> {
        let now = self.clock.now();
        let due = self.store.due_contracts(now, limit).await?;
        let mut done = 0;
        for contract in due {
            match self.evaluate_contract(contract.id).await {
                Ok(()) => done += 1,
                Err(ServiceError::Contended) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Evaluates one contract now and applies the decision.
    pub async fn evaluate_contract(&self, id: ContractId) -> Result<(), ServiceError> {
        retry_stale(|| self.evaluate_once(id)).await
    }

    async fn evaluate_once(&self, id: ContractId) -> Result<(), ServiceError> {
        let Some(mut contract) = self.store.contract_unscoped(id).await? else {
            return Ok(());
        };
        if contract.state != ContractState::Active {
            return Ok(());
        }
        let Some(device) = self.store.device_unscoped(contract.device_id).await? else {
            return Ok(());
        };
        let lender = self
            .store
            .lender_by_id(contract.lender_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let facts = self.facts(&contract).await?;
        let (profile, settings) = policy::effective(&lender, &contract)?;
        let now = self.clock.now();
        let input = facts.input(&contract, &device, now, &settings, profile);
        let decision = lienlock_domain::evaluate(&input);
        let explanation = lienlock_domain::explain(&input, &decision);
        let mut write = DeviceWrite::new(device.clone());
        let event = |kind, detail: String| {
            let mut e = TimelineEvent::new(&device, now, kind, Actor::Scheduler);
            e.detail = Some(detail);
            e
        };

        if let Some(kind) = decision.notice_to_send {
            write.device.notice_seq += 1;
            let message = notice_message(kind, &decision.standing, &contract, &lender.name);
            write.new_notices.push(NoticeRecord {
                id: NoticeId::new(),
                lender_id: contract.lender_id,
                device_id: device.id,
                contract_id: Some(contract.id),
                seq: write.device.notice_seq,
                kind: kind.as_str().to_owned(),
                message: message.clone(),
                created_at: now,
                delivered_at: None,
            });
            write.events.push(event(
                EventKind::NoticeQueued,
                format!("{}: {message}", kind.as_str()),
            ));
        }
        if decision.level != device.policy_level {
            write.device.policy_level = decision.level;
            write.device.policy_level_since = now;
            write.events.push(event(
                EventKind::RestrictionChanged,
                format!(
                    "{} → {}: {explanation}",
                    level_name(device.policy_level),
                    level_name(decision.level)
                ),
            ));
        }
        if decision.release {
            contract.state = ContractState::PaidOff;
            write
                .events
                .push(event(EventKind::ContractPaidOff, explanation.clone()));
            if device.state != DeviceState::Released {
                let pending = self.store.pending_commands_unscoped(device.id).await?;
                write.device.state = DeviceState::Released;
                write.device.policy_level = RestrictionLevel::None;
                write
                    .events
                    .push(event(EventKind::Released, "final installment paid".into()));
                let mut cancel_events = Vec::new();
                write.resolved_commands = commands::cancel_all(
                    &write.device,
                    &pending,
                    (now, &Actor::Scheduler),
                    &mut cancel_events,
                );
                write.events.extend(cancel_events);
            }
        }
        contract.next_evaluation_at = match decision.notice_to_send {
            // The queued notice changes the facts; look again at once.
            Some(_) => Some(now.plus_secs(1)),
            None => decision.next_evaluation,
        };
        contract.updated_at = now;
        write.device.updated_at = now;
        write.contract = Some(contract);
        self.store.save_device(&write).await?;
        tracing::debug!(device = %device.id, phase = decision.phase.as_str(), "evaluated");
        Ok(())
    }
}

fn level_name(l: RestrictionLevel) -> &'static str {
    match l {
        RestrictionLevel::None => "none",
        RestrictionLevel::Reminder => "reminder",
        RestrictionLevel::PersistentBanner => "persistent banner",
        RestrictionLevel::RestrictedApps => "restricted apps",
        RestrictionLevel::FullLock => "full lock",
    }
}

/// The words a borrower reads. Plain, specific, and always saying how to fix it.
fn notice_message(
    kind: NoticeKind,
    standing: &Standing,
    contract: &ContractRecord,
    lender: &str,
) -> String {
    let money = |minor| Money::new(contract.terms.currency(), minor);
    match kind {
        NoticeKind::DueReminder => match standing.next_due {
            Some(d) => format!(
                "Reminder from {lender}: {} is due on {}.",
                money(d.remaining),
                d.due
            ),
            None => format!("Reminder from {lender}: an installment is due soon."),
        },
        NoticeKind::OverdueReminder => format!(
            "{lender}: {} is overdue ({} day{}). Please pay to keep your phone fully working.",
            money(standing.overdue_amount),
            standing.days_overdue,
            if standing.days_overdue == 1 { "" } else { "s" }
        ),
        NoticeKind::LockNotice | NoticeKind::SecondLockNotice => format!(
            "{lender}: {} is overdue. If it stays unpaid, this phone will be restricted. \
             Emergency and incoming calls will keep working. Pay, or open a dispute if you \
             have paid.",
            money(standing.overdue_amount)
        ),
    }
}
