//! Automatic enforcement: evaluating contracts whose time has come and applying the policy
//! engine's decision to the device, its notices and its timeline in one atomic write.

use super::{commands, policy, retry_stale, Service, ServiceError};
use lienlock_domain::policy::TamperFact;
use lienlock_domain::{
    AppliedLevel, BoundedText, ContractId, ContractState, DeviceId, DeviceState, Dispute,
    DisputeOpener, EventKind, LedgerEntry, LenderId, Money, Notice, NoticeId, NoticeKind,
    PolicyInput, RestrictionLevel, Standing, Timestamp,
};
use lienlock_store::{
    Actor, Arrears, ContractFacts, ContractRecord, DeviceWrite, Lender, NoticeRecord, StoreError,
    TamperRecord, TimelineEvent,
};
use std::collections::hash_map::{Entry, HashMap};

/// What the engine reads about one contract, loaded from storage.
#[derive(Debug, Default)]
pub(super) struct Facts {
    pub(super) entries: Vec<LedgerEntry>,
    pub(super) notices: Vec<Notice>,
    pub(super) disputes: Vec<Dispute>,
    /// Tamper signals of the device recorded during the contract (empty unless
    /// [`Facts::with_tamper`] added them).
    pub(super) tamper: Vec<TamperFact>,
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
            tamper: &self.tamper,
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

/// What an unlock code issued right after an evaluation is based on.
#[derive(Debug)]
pub(super) struct CodeBasis {
    /// The device as the evaluation left it.
    pub(super) device: lienlock_store::Device,
    /// The code's date, or why there is none.
    pub(super) paid_until: Result<jiff::civil::Date, String>,
}

/// Whether a decision's write changes what the device's next lease says (its state,
/// restriction level, amount due or notices), so the device should be told to check in now.
fn changes_lease(before: &lienlock_store::Device, write: &DeviceWrite) -> bool {
    write.device.state != before.state
        || write.device.policy_level != before.policy_level
        || write.device.arrears != before.arrears
        || !write.new_notices.is_empty()
}

fn corrupt(table: &'static str, why: String) -> ServiceError {
    ServiceError::Store(StoreError::Corrupt { table, why })
}

impl Facts {
    /// The domain's view of the stored records.
    pub(super) fn from_records(f: &ContractFacts) -> Result<Self, ServiceError> {
        let entries = f.payments.iter().map(|p| p.ledger_entry()).collect();
        let notices = f
            .notices
            .iter()
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
        let disputes = f
            .disputes
            .iter()
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
            tamper: Vec::new(),
        })
    }

    /// With the tamper signals among `records` that concern `contract`: its device's,
    /// recorded since it began (a signal from before the contract is not this borrower's
    /// business).
    pub(super) fn with_tamper(
        mut self,
        records: &[TamperRecord],
        contract: &ContractRecord,
    ) -> Self {
        self.tamper = records
            .iter()
            .filter(|r| r.device_id == contract.device_id && r.recorded_at >= contract.created_at)
            .map(|r| TamperFact {
                kind: r.kind,
                recorded_at: r.recorded_at,
            })
            .collect();
        self
    }
}

/// Tamper records by device.
fn by_device(records: Vec<TamperRecord>) -> HashMap<DeviceId, Vec<TamperRecord>> {
    let mut map: HashMap<DeviceId, Vec<TamperRecord>> = HashMap::new();
    for r in records {
        map.entry(r.device_id).or_default().push(r);
    }
    map
}

/// Device writes per transaction in a scheduler pass (so one transaction per pass of the
/// server's scheduler): enough to spread a commit's sync over many contracts, few enough
/// that a check-in waiting on SQLite's write lock waits briefly (a batch of 500 holds it
/// for about 125 ms; docs/benchmarks.md).
const WRITE_BATCH: usize = 500;

impl Service {
    /// Everything the engine reads about `contract` (read just before).
    pub(super) async fn contract_facts(
        &self,
        contract: ContractRecord,
    ) -> Result<Option<ContractFacts>, ServiceError> {
        Ok(self
            .store
            .contract_facts_unscoped(vec![contract])
            .await?
            .pop())
    }

    /// Evaluates the contracts whose evaluation time has come (wake-ups first), at most
    /// `limit`, and returns how many decisions landed. Reads the whole batch with one query
    /// per kind and saves it in a few transactions; a decision that lost a race with a
    /// check-in is redone alone. Safe on every node at once and after a restart: each
    /// decision lands only if neither the device nor the contract changed since it was read.
    ///
    /// A contract that cannot be evaluated (a corrupt record) is logged and skipped, so it
    /// does not hold up the others; the pass fails only when nothing at all could be done.
    pub async fn evaluate_due_contracts(&self, limit: u32) -> Result<usize, ServiceError> {
        let now = self.clock.now();
        let due = self.store.due_contracts(now, limit).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let facts = self.store.contract_facts_unscoped(due).await?;
        let devices: Vec<DeviceId> = facts.iter().map(|f| f.device.id).collect();
        let tamper = by_device(self.store.tamper_unscoped(&devices).await?);
        let mut lenders: HashMap<LenderId, Lender> = HashMap::new();
        let mut writes = Vec::with_capacity(facts.len());
        let mut failed = Failures::default();
        for f in facts {
            let id = f.contract.id;
            let lender = match lenders.entry(f.contract.lender_id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => match self.store.lender_by_id(f.contract.lender_id).await? {
                    Some(l) => e.insert(l),
                    None => {
                        failed.note(id, ServiceError::NotFound);
                        continue;
                    }
                },
            };
            let signals = tamper.get(&f.device.id).map_or(&[][..], Vec::as_slice);
            match self.decide(&f, lender, signals, now).await {
                Ok(Some(write)) => {
                    let wake = changes_lease(&f.device, &write);
                    writes.push((id, (write, wake)));
                }
                Ok(None) => {}
                Err(e) => failed.note(id, e),
            }
        }
        // One lock order for every batch, so two nodes' passes cannot deadlock.
        writes.sort_by_key(|(_, (w, _))| w.device.id);
        let (ids, writes): (Vec<ContractId>, Vec<(DeviceWrite, bool)>) = writes.into_iter().unzip();
        let (writes, wakes): (Vec<DeviceWrite>, Vec<bool>) = writes.into_iter().unzip();
        let mut done = 0;
        let mut woken = Vec::new();
        for (i, batch) in writes.chunks(WRITE_BATCH).enumerate() {
            let at = i * WRITE_BATCH;
            let results = self.store.save_devices(batch).await?;
            for (j, result) in results.into_iter().enumerate() {
                let id = ids[at + j];
                let result = match result {
                    // Redone alone, and that path wakes the device itself.
                    Err(StoreError::Stale) => self.evaluate_contract(id).await,
                    Ok(()) => {
                        if wakes[at + j] {
                            woken.push(batch[j].device.id);
                        }
                        Ok(())
                    }
                    Err(e) => Err(ServiceError::from(e)),
                };
                match result {
                    Ok(()) => done += 1,
                    Err(ServiceError::Contended) => {}
                    Err(e) => failed.note(id, e),
                }
            }
        }
        self.wake(&woken).await;
        failed.finish(done)
    }

    /// Evaluates one contract now and applies the decision.
    pub async fn evaluate_contract(&self, id: ContractId) -> Result<(), ServiceError> {
        retry_stale(|| self.evaluate_once(id)).await.map(|_| ())
    }

    /// [`Self::evaluate_contract`], also saying what an unlock code issued right after
    /// would carry, from the same reads (a payment's answer needs both).
    pub(super) async fn evaluate_for_code(
        &self,
        id: ContractId,
    ) -> Result<Option<CodeBasis>, ServiceError> {
        retry_stale(|| self.evaluate_once(id)).await
    }

    async fn evaluate_once(&self, id: ContractId) -> Result<Option<CodeBasis>, ServiceError> {
        let Some(contract) = self.store.contract_unscoped(id).await? else {
            return Ok(None);
        };
        if contract.state != ContractState::Active {
            return Ok(None);
        }
        let Some(facts) = self.contract_facts(contract).await? else {
            return Ok(None);
        };
        let lender = self
            .store
            .lender_by_id(facts.contract.lender_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let now = self.clock.now();
        let mut device = facts.device.clone();
        let signals = self.store.tamper_unscoped(&[device.id]).await?;
        if let Some(write) = self.decide(&facts, &lender, &signals, now).await? {
            self.store.save_device(&write).await?;
            if changes_lease(&facts.device, &write) {
                self.wake(&[write.device.id]).await;
            }
            device = write.device;
        }
        // The ledger is the same before and after the decision; the engine is cheap.
        let (profile, settings) = policy::effective(&lender, &facts.contract)?;
        let records = Facts::from_records(&facts)?.with_tamper(&signals, &facts.contract);
        let input = records.input(&facts.contract, &device, now, &settings, profile);
        let standing = lienlock_domain::evaluate(&input).standing;
        let paid_until = lienlock_domain::code_paid_until(
            &standing,
            settings.restricted_apps_after_days,
            standing.as_of,
        )
        .map_err(|e| e.to_string());
        Ok(Some(CodeBasis { device, paid_until }))
    }

    /// Runs the policy engine on `f` at `now` and turns the decision into the write that
    /// applies it to the device, its notices, its timeline and the contract. `None` for a
    /// contract that is no longer active.
    async fn decide(
        &self,
        f: &ContractFacts,
        lender: &Lender,
        tamper: &[TamperRecord],
        now: Timestamp,
    ) -> Result<Option<DeviceWrite>, ServiceError> {
        if f.contract.state != ContractState::Active {
            return Ok(None);
        }
        let (device, mut contract) = (&f.device, f.contract.clone());
        let facts = Facts::from_records(f)?.with_tamper(tamper, &f.contract);
        let (profile, settings) = policy::effective(lender, &f.contract)?;
        let input = facts.input(&f.contract, device, now, &settings, profile);
        let decision = lienlock_domain::evaluate(&input);
        // Only for the timeline entries below: most evaluations change nothing and are
        // never explained.
        let explanation = || lienlock_domain::explain(&input, &decision);
        let mut write = DeviceWrite::new(device.clone());
        let event = |kind, detail: String| {
            let mut e = TimelineEvent::new(device, now, kind, Actor::Scheduler);
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
                    "{} → {}: {}",
                    level_name(device.policy_level),
                    level_name(decision.level),
                    explanation()
                ),
            ));
        }
        if decision.release {
            contract.state = ContractState::PaidOff;
            write
                .events
                .push(event(EventKind::ContractPaidOff, explanation()));
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
        // What the lock screen and the console show as overdue: nothing once the contract
        // is paid off or the device released.
        write.device.arrears = if decision.release || write.device.state == DeviceState::Released {
            None
        } else {
            Arrears::of(&decision.standing, &contract.terms)
        };
        contract.next_evaluation_at = match decision.notice_to_send {
            // The queued notice changes the facts; look again at once.
            Some(_) => Some(now.plus_secs(1)),
            None => decision.next_evaluation,
        };
        contract.updated_at = now;
        write.device.updated_at = now;
        write.contract = Some(contract);
        tracing::debug!(device = %device.id, phase = decision.phase.as_str(), "evaluated");
        Ok(Some(write))
    }
}

/// The contracts a pass could not evaluate: logged one by one, and an error for the pass
/// only when nothing landed (so a broken database is not reported as an idle one).
#[derive(Default)]
struct Failures {
    count: usize,
    first: Option<ServiceError>,
}

impl Failures {
    fn note(&mut self, contract: ContractId, e: ServiceError) {
        tracing::warn!(%contract, error = %e, "contract evaluation failed; retrying later");
        self.count += 1;
        self.first.get_or_insert(e);
    }

    fn finish(self, done: usize) -> Result<usize, ServiceError> {
        match self.first {
            Some(e) if done == 0 => Err(e),
            _ => Ok(done),
        }
    }
}

/// A restriction level in words, as the timeline's restriction changes write it (the
/// dashboard reads them back: see `portfolio::restriction_target`).
pub(crate) fn level_name(l: RestrictionLevel) -> &'static str {
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
        NoticeKind::TamperNotice => format!(
            "{lender}: this phone reported a change its financing does not allow (a new SIM \
             card, a reset, rooting or similar). Unless a payment is made, some apps will be \
             restricted after the notice period. Emergency and incoming calls, the network and \
             {lender}'s app will keep working. Contact {lender} if you think this is wrong."
        ),
    }
}
