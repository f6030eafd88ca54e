//! Rows of offline unlock codes, decoded under the parent module's rules: anything wrong
//! with a stored value is [`StoreError::Corrupt`].

use super::{id, name, parse, ts};
use lienlock_domain::{CodeFormat, CodeGrantKind};
use lienlock_store::{Actor, StoreError, StoreResult, UnlockCodeRecord};
use std::str::FromStr;

/// A `unlock_codes` row. `paid_until` is the date's ISO 8601 text (see migration 0004).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UnlockCodeRow {
    id: String,
    lender_id: String,
    device_id: String,
    format: String,
    counter: i64,
    kind: String,
    paid_until: String,
    code: String,
    payment_id: Option<String>,
    issued_at: i64,
    issued_by: String,
    reason: Option<String>,
    redeemed_at: Option<i64>,
}

impl UnlockCodeRow {
    pub(crate) fn decode(self) -> StoreResult<UnlockCodeRecord> {
        const T: &str = "unlock_codes";
        Ok(UnlockCodeRecord {
            id: id(T, "id", &self.id)?,
            lender_id: id(T, "lender_id", &self.lender_id)?,
            device_id: id(T, "device_id", &self.device_id)?,
            format: code_format(T, "format", &self.format)?,
            counter: code_counter(T, self.counter)?,
            kind: parse(T, "kind", &self.kind, CodeGrantKind::from_str)?,
            paid_until: parse(T, "paid_until", &self.paid_until, str::parse)?,
            code: self.code,
            payment_id: self
                .payment_id
                .map(|p| id(T, "payment_id", &p))
                .transpose()?,
            issued_at: ts(self.issued_at),
            issued_by: name(T, "issued_by", &self.issued_by, Actor::parse)?,
            reason: self.reason,
            redeemed_at: self.redeemed_at.map(ts),
        })
    }
}

/// A stored [`CodeFormat`] name (`unlock_codes.format`, `devices.code_format`).
pub(crate) fn code_format(table: &'static str, column: &str, v: &str) -> StoreResult<CodeFormat> {
    parse(table, column, v, CodeFormat::from_str)
}

/// A stored counter, which must fit the `u32` it was written from.
pub(crate) fn code_counter(table: &'static str, v: i64) -> StoreResult<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt {
        table,
        why: format!("counter {v} is outside 0..=4294967295"),
    })
}
