//! Rows of contracts, payments, notices and disputes, decoded under the parent module's
//! rules: anything wrong with a stored value is [`StoreError::Corrupt`].

use super::{counter, id, key, name, parse, ts};
use lienlock_domain::{ContractState, ContractTerms, Currency, EntryKind};
use lienlock_store::{
    Actor, ContractRecord, DisputeRecord, NoticeRecord, PaymentRecord, StoreError, StoreResult,
};

/// The JSON stored in `contracts.terms`: the terms as the lender wrote them, which reading
/// validates again (and rebuilds the schedule from).
pub(crate) fn terms_json(t: &ContractTerms) -> StoreResult<String> {
    serde_json::to_string(t).map_err(|e| StoreError::Backend(format!("contract terms: {e}")))
}

/// A `contracts` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ContractRow {
    id: String,
    lender_id: String,
    device_id: String,
    reference: Option<String>,
    currency: String,
    terms: String,
    policy: Option<String>,
    state: String,
    created_at: i64,
    updated_at: i64,
    next_evaluation_at: Option<i64>,
    version: i64,
    wake_seq: i64,
}

impl ContractRow {
    pub(crate) fn decode(self) -> StoreResult<ContractRecord> {
        const T: &str = "contracts";
        let terms = parse(T, "terms", &self.terms, |s| {
            serde_json::from_str::<ContractTerms>(s)
        })?;
        // The column exists so SQL can compare currencies; it must say what the terms say.
        if self.currency != terms.currency().code() {
            return Err(StoreError::Corrupt {
                table: T,
                why: format!(
                    "currency {:?} differs from the terms' {}",
                    self.currency,
                    terms.currency()
                ),
            });
        }
        Ok(ContractRecord {
            id: id(T, "id", &self.id)?,
            lender_id: id(T, "lender_id", &self.lender_id)?,
            device_id: id(T, "device_id", &self.device_id)?,
            reference: self.reference,
            terms,
            policy: self.policy,
            state: name(T, "state", &self.state, ContractState::parse)?,
            created_at: ts(self.created_at),
            updated_at: ts(self.updated_at),
            next_evaluation_at: self.next_evaluation_at.map(ts),
            version: self.version,
            wake_seq: self.wake_seq,
        })
    }
}

/// A `payments.kind` name and the `reverses` column for an entry kind.
pub(crate) fn entry_kind_columns(k: &EntryKind) -> (&'static str, Option<String>) {
    match k {
        EntryKind::Payment => ("payment", None),
        EntryKind::Reversal { of } => ("reversal", Some(of.to_string())),
    }
}

/// A `payments` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PaymentRow {
    id: String,
    lender_id: String,
    contract_id: Option<String>,
    kind: String,
    reverses: Option<String>,
    amount: i64,
    currency: String,
    received_at: i64,
    recorded_at: i64,
    channel: String,
    external_ref: Option<String>,
    payer_hint: Option<String>,
    idempotency_key: Option<String>,
    request_hash: Vec<u8>,
    assigned_at: Option<i64>,
}

impl PaymentRow {
    pub(crate) fn decode(self) -> StoreResult<PaymentRecord> {
        const T: &str = "payments";
        let corrupt = |why: String| StoreError::Corrupt { table: T, why };
        let kind = match (self.kind.as_str(), self.reverses.as_deref()) {
            ("payment", None) => EntryKind::Payment,
            ("reversal", Some(of)) => EntryKind::Reversal {
                of: id(T, "reverses", of)?,
            },
            (kind, reverses) => {
                return Err(corrupt(format!("kind {kind:?} with reverses {reverses:?}")))
            }
        };
        if self.amount <= 0 {
            return Err(corrupt(format!("amount {} is not positive", self.amount)));
        }
        Ok(PaymentRecord {
            id: id(T, "id", &self.id)?,
            lender_id: id(T, "lender_id", &self.lender_id)?,
            contract_id: self
                .contract_id
                .map(|c| id(T, "contract_id", &c))
                .transpose()?,
            kind,
            amount: self.amount,
            currency: parse(T, "currency", &self.currency, Currency::parse)?,
            received_at: ts(self.received_at),
            recorded_at: ts(self.recorded_at),
            channel: self.channel,
            external_ref: self.external_ref,
            payer_hint: self.payer_hint,
            idempotency_key: self.idempotency_key,
            request_hash: key(T, "request_hash", self.request_hash)?,
            assigned_at: self.assigned_at.map(ts),
        })
    }
}

/// A `notices` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct NoticeRow {
    id: String,
    lender_id: String,
    device_id: String,
    contract_id: Option<String>,
    seq: i64,
    kind: String,
    message: String,
    created_at: i64,
    delivered_at: Option<i64>,
}

impl NoticeRow {
    pub(crate) fn decode(self) -> StoreResult<NoticeRecord> {
        const T: &str = "notices";
        Ok(NoticeRecord {
            id: id(T, "id", &self.id)?,
            lender_id: id(T, "lender_id", &self.lender_id)?,
            device_id: id(T, "device_id", &self.device_id)?,
            contract_id: self
                .contract_id
                .map(|c| id(T, "contract_id", &c))
                .transpose()?,
            seq: counter(T, "seq", self.seq)?,
            kind: self.kind,
            message: self.message,
            created_at: ts(self.created_at),
            delivered_at: self.delivered_at.map(ts),
        })
    }
}

/// A `disputes` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DisputeRow {
    id: String,
    lender_id: String,
    device_id: String,
    contract_id: Option<String>,
    opened_by: String,
    reason: String,
    opened_at: i64,
    temporary_unlock_until: Option<i64>,
    closed_at: Option<i64>,
    closed_by: Option<String>,
    resolution: Option<String>,
}

impl DisputeRow {
    pub(crate) fn decode(self) -> StoreResult<DisputeRecord> {
        const T: &str = "disputes";
        Ok(DisputeRecord {
            id: id(T, "id", &self.id)?,
            lender_id: id(T, "lender_id", &self.lender_id)?,
            device_id: id(T, "device_id", &self.device_id)?,
            contract_id: self
                .contract_id
                .map(|c| id(T, "contract_id", &c))
                .transpose()?,
            opened_by: name(T, "opened_by", &self.opened_by, Actor::parse)?,
            reason: self.reason,
            opened_at: ts(self.opened_at),
            temporary_unlock_until: self.temporary_unlock_until.map(ts),
            closed_at: self.closed_at.map(ts),
            closed_by: self
                .closed_by
                .map(|a| name(T, "closed_by", &a, Actor::parse))
                .transpose()?,
            resolution: self.resolution,
        })
    }
}
