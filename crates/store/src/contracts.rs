//! Records of installment contracts and what hangs off them: the payments ledger, the
//! notices queued for a device, and disputes. Plain data, like [`crate::records`]; the rules
//! live in the domain crate and the services.

use crate::Actor;
use lienlock_domain::{
    ContractId, ContractState, ContractTerms, Currency, DeviceId, DisputeId, EntryKind,
    LedgerEntry, LenderId, NoticeId, PaymentId, Timestamp,
};

/// An installment contract on one device.
///
/// A device has at most one `active` contract at a time; closed ones (paid off, cancelled,
/// written off) stay for the record. The scheduler finds the contracts it must look at
/// through `next_evaluation_at` (see [`crate::Store::due_contracts`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractRecord {
    /// Id.
    pub id: ContractId,
    /// Owner.
    pub lender_id: LenderId,
    /// The financed device; never changes.
    pub device_id: DeviceId,
    /// The lender's own reference for the contract (a loan number), unique per lender.
    pub reference: Option<String>,
    /// What is owed and when. Stored as JSON and validated again when read.
    pub terms: ContractTerms,
    /// Per-contract policy overrides as JSON; opaque to the store.
    pub policy: Option<String>,
    /// Where the contract is in its life.
    pub state: ContractState,
    /// When created.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// When the policy engine must look at the contract next: the time the last evaluation
    /// chose, or earlier when a wake-up (a payment, an assignment, a dispute) pulled it in.
    /// `None` exactly when the contract is closed; the store refuses a closed contract with
    /// a time.
    pub next_evaluation_at: Option<Timestamp>,
    /// Optimistic-concurrency version; the store bumps it on every save (see
    /// [`crate::DeviceWrite::contract`]). Wake-ups do not bump it.
    pub version: i64,
    /// How many wake-ups the store has recorded on this contract; assigned by the store
    /// (write 0 on create) and carried back unchanged on save. A save whose `wake_seq` is
    /// behind the stored one keeps the earlier of its own `next_evaluation_at` and the
    /// stored one, so a wake-up that raced with an evaluation is never lost. See
    /// [`crate::Store::insert_payment`].
    pub wake_seq: i64,
}

/// One entry of the payments ledger: a payment or a reversal, matched to a contract or
/// still waiting for someone to match it.
///
/// Append-only: rows are never deleted, and the only change ever made is assigning an
/// unmatched entry to a contract ([`crate::Store::assign_payment`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRecord {
    /// Id.
    pub id: PaymentId,
    /// Owner.
    pub lender_id: LenderId,
    /// The contract it pays; `None` while unmatched.
    pub contract_id: Option<ContractId>,
    /// A payment, or a reversal of an earlier payment (which must be the same lender's).
    pub kind: EntryKind,
    /// Minor units of `currency`; always positive (the kind gives the direction).
    pub amount: i64,
    /// The currency, which must be the contract's.
    pub currency: Currency,
    /// When the money moved, as the payment provider reported it.
    pub received_at: Timestamp,
    /// When lienlock recorded it.
    pub recorded_at: Timestamp,
    /// Where it came from: `api`, `csv:<file>`, `mpesa`, ...
    pub channel: String,
    /// The payment provider's id for it; unique per lender and channel, so importing the
    /// same statement twice records nothing twice.
    pub external_ref: Option<String>,
    /// What the payer named when it could not be matched (an IMEI, a reference).
    pub payer_hint: Option<String>,
    /// The API client's idempotency key; unique per lender.
    pub idempotency_key: Option<String>,
    /// SHA-256 of the request that created the entry, to tell a retry (same hash) from a
    /// different request reusing a key (another hash).
    pub request_hash: [u8; 32],
    /// When an unmatched entry was assigned to its contract; `None` if it arrived matched.
    pub assigned_at: Option<Timestamp>,
}

impl PaymentRecord {
    /// The entry as the domain's ledger sees it.
    pub fn ledger_entry(&self) -> LedgerEntry {
        LedgerEntry {
            id: self.id,
            received_at: self.received_at,
            amount: self.amount,
            kind: self.kind,
        }
    }
}

/// What [`crate::Store::insert_payment`] did.
// Not boxed: one value per insert, moved once; a box would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentInsert {
    /// The entry was recorded.
    Inserted,
    /// An entry with the same idempotency key, or the same channel and external reference,
    /// already exists; it is returned as stored and nothing was written. The caller
    /// compares `request_hash` to tell a retry from a conflicting request.
    Existing(PaymentRecord),
}

/// A notice queued for a device (a reminder, a lock notice). Written through
/// [`crate::DeviceWrite::new_notices`], delivered when the device acknowledges it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeRecord {
    /// Id.
    pub id: NoticeId,
    /// Owner of the device.
    pub lender_id: LenderId,
    /// The device it is for.
    pub device_id: DeviceId,
    /// The contract that caused it, if any (it must be this device's).
    pub contract_id: Option<ContractId>,
    /// Per device, strictly increasing from 1: the service takes it from
    /// [`crate::Device::notice_seq`] after bumping that in the same write.
    pub seq: u64,
    /// The domain's notice kind name; opaque here.
    pub kind: String,
    /// What the borrower reads.
    pub message: String,
    /// When queued.
    pub created_at: Timestamp,
    /// When the device acknowledged it; `None` until then.
    pub delivered_at: Option<Timestamp>,
}

/// A dispute ("I paid") about a device and, usually, its active contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeRecord {
    /// Id.
    pub id: DisputeId,
    /// Owner of the device.
    pub lender_id: LenderId,
    /// The device.
    pub device_id: DeviceId,
    /// The contract disputed (it must be this device's). Set it to the device's active
    /// contract when there is one: [`crate::Store::contract_disputes_unscoped`] finds
    /// disputes by this column.
    pub contract_id: Option<ContractId>,
    /// Who opened it.
    pub opened_by: Actor,
    /// What they wrote.
    pub reason: String,
    /// When opened.
    pub opened_at: Timestamp,
    /// A temporary unlock granted by support, until this time.
    pub temporary_unlock_until: Option<Timestamp>,
    /// When closed; a closed dispute is final.
    pub closed_at: Option<Timestamp>,
    /// Who closed it.
    pub closed_by: Option<Actor>,
    /// How it was resolved.
    pub resolution: Option<String>,
}

impl DisputeRecord {
    /// Whether the dispute is still open.
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }
}

/// Everything the policy engine reads about one contract, loaded in one go for a batch of
/// contracts (see [`crate::Store::contract_facts_unscoped`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractFacts {
    /// The contract as the caller read it.
    pub contract: ContractRecord,
    /// Its device, read after the contract.
    pub device: crate::Device,
    /// Its ledger entries, by `(received_at, id)`.
    pub payments: Vec<PaymentRecord>,
    /// The notices it caused, by `seq`.
    pub notices: Vec<NoticeRecord>,
    /// The disputes naming it, oldest first.
    pub disputes: Vec<DisputeRecord>,
}
