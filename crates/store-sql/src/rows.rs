//! Rows as the database returns them, and their checked conversion to records.
//!
//! The row structs hold only types both drivers decode the same way (`String`, `i64`,
//! `Vec<u8>`, options of those), so one `#[derive(FromRow)]` serves SQLite and PostgreSQL.
//! Everything that can be wrong with a stored value (an unknown enum name, a key of the wrong
//! length, a negative counter) becomes [`StoreError::Corrupt`] naming the table, never a
//! panic and never a silently defaulted value.

mod codes;
mod console;
mod contracts;

pub(crate) use codes::*;
pub(crate) use console::*;
pub(crate) use contracts::*;

use lienlock_domain::{
    CommandKind, CommandStatus, Currency, DeviceState, EventKind, Imei, KeyStatus, Money,
    PolicySettings, RestrictionLevel, RestrictionProfile, Role, Timestamp,
};
use lienlock_store::{
    Actor, ApiKeyRecord, Arrears, CheckinView, Command, Device, Lender, StoreError, StoreResult,
    TimelineEvent,
};
use std::fmt::Display;
use std::str::FromStr;

/// Reads a column's text with `parse`, or says which table holds a bad value.
fn parse<T, E: Display>(
    table: &'static str,
    column: &str,
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> StoreResult<T> {
    parse(value).map_err(|e| StoreError::Corrupt {
        table,
        why: format!("{column} {value:?}: {e}"),
    })
}

/// An enum by its `as_str` name.
fn name<T>(
    table: &'static str,
    column: &str,
    value: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> StoreResult<T> {
    parse(value).ok_or_else(|| StoreError::Corrupt {
        table,
        why: format!("unknown {column} {value:?}"),
    })
}

fn id<T: FromStr<Err = E>, E: Display>(
    table: &'static str,
    column: &str,
    v: &str,
) -> StoreResult<T> {
    parse(table, column, v, T::from_str)
}

fn key(table: &'static str, column: &str, v: Vec<u8>) -> StoreResult<[u8; 32]> {
    let len = v.len();
    v.try_into().map_err(|_| StoreError::Corrupt {
        table,
        why: format!("{column} has {len} bytes, expected 32"),
    })
}

fn counter(table: &'static str, column: &str, v: i64) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt {
        table,
        why: format!("{column} is negative ({v})"),
    })
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// A `lenders` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LenderRow {
    id: String,
    name: String,
    support_phone: String,
    support_url: String,
    lock_message: String,
    lock_profile: String,
    created_at: i64,
    compliance_profile: String,
    policy: Option<String>,
}

impl LenderRow {
    pub(crate) fn decode(self) -> StoreResult<Lender> {
        const T: &str = "lenders";
        Ok(Lender {
            id: id(T, "id", &self.id)?,
            name: self.name,
            support_phone: self.support_phone,
            support_url: self.support_url,
            lock_message: self.lock_message,
            lock_profile: parse(T, "lock_profile", &self.lock_profile, |s| {
                serde_json::from_str::<RestrictionProfile>(s)
            })?,
            created_at: ts(self.created_at),
            compliance_profile: self.compliance_profile,
            policy: self
                .policy
                .map(|p| {
                    parse(T, "policy", &p, |s| {
                        serde_json::from_str::<PolicySettings>(s)
                    })
                })
                .transpose()?,
        })
    }
}

/// A row of `sql::CHECKIN_VIEW`: a device, what else a check-in reads, and its lender.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct CheckinRow {
    #[sqlx(flatten)]
    device: DeviceRow,
    codes_through: i64,
    has_pending: i64,
    undelivered_from: Option<i64>,
    l_name: String,
    l_support_phone: String,
    l_support_url: String,
    l_lock_message: String,
    l_lock_profile: String,
    l_created_at: i64,
    l_compliance_profile: String,
    l_policy: Option<String>,
}

impl CheckinRow {
    /// The device's first IMEI, as stored.
    pub(crate) fn imei(&self) -> &str {
        &self.device.imei
    }

    /// A row of `sql::CHECKIN_VIEW` as rusqlite reads it, by position: the device's
    /// columns in `DeviceRow`'s order, then the rest in this struct's (SQLite's check-in
    /// readers, `sqlite_reader`).
    pub(crate) fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Self::from_sqlite_at(r, 0)
    }

    /// [`Self::from_sqlite`] for a row whose first `skip` columns come before the device's
    /// (the warm pass of `sqlite_views`, which reads each row's `rowid` first).
    pub(crate) fn from_sqlite_at(r: &rusqlite::Row<'_>, skip: usize) -> rusqlite::Result<Self> {
        let mut at = skip..;
        let mut col = || at.next().unwrap_or_default();
        Ok(Self {
            device: DeviceRow {
                id: r.get(col())?,
                lender_id: r.get(col())?,
                imei: r.get(col())?,
                imei2: r.get(col())?,
                serial: r.get(col())?,
                model: r.get(col())?,
                state: r.get(col())?,
                key_status: r.get(col())?,
                device_key: r.get(col())?,
                pending_key: r.get(col())?,
                last_counter: r.get(col())?,
                pending_counter: r.get(col())?,
                retired_key: r.get(col())?,
                retired_counter: r.get(col())?,
                lease_seq: r.get(col())?,
                last_seen_at: r.get(col())?,
                enrolled_at: r.get(col())?,
                updated_at: r.get(col())?,
                version: r.get(col())?,
                policy_level: r.get(col())?,
                notice_seq: r.get(col())?,
                policy_level_since: r.get(col())?,
                arrears_amount: r.get(col())?,
                arrears_currency: r.get(col())?,
                arrears_since: r.get(col())?,
            },
            codes_through: r.get(col())?,
            has_pending: r.get(col())?,
            undelivered_from: r.get(col())?,
            l_name: r.get(col())?,
            l_support_phone: r.get(col())?,
            l_support_url: r.get(col())?,
            l_lock_message: r.get(col())?,
            l_lock_profile: r.get(col())?,
            l_created_at: r.get(col())?,
            l_compliance_profile: r.get(col())?,
            l_policy: r.get(col())?,
        })
    }

    /// The view, and whether pending commands remain to be read into it.
    pub(crate) fn decode(self) -> StoreResult<(CheckinView, bool)> {
        let lender = LenderRow {
            id: self.device.lender_id.clone(),
            name: self.l_name,
            support_phone: self.l_support_phone,
            support_url: self.l_support_url,
            lock_message: self.l_lock_message,
            lock_profile: self.l_lock_profile,
            created_at: self.l_created_at,
            compliance_profile: self.l_compliance_profile,
            policy: self.l_policy,
        }
        .decode()?;
        let view = CheckinView {
            device: self.device.decode()?,
            lender,
            codes_through: code_counter("unlock_codes", self.codes_through)?,
            pending_commands: Vec::new(),
            undelivered_from: self
                .undelivered_from
                .map(|seq| counter("notices", "seq", seq))
                .transpose()?,
        };
        Ok((view, self.has_pending != 0))
    }
}

/// The JSON stored in `lenders.policy`.
pub(crate) fn policy_json(p: Option<&PolicySettings>) -> StoreResult<Option<String>> {
    p.map(|p| serde_json::to_string(p).map_err(|e| StoreError::Backend(format!("policy: {e}"))))
        .transpose()
}

/// The JSON stored in `lenders.lock_profile`.
pub(crate) fn profile_json(p: &RestrictionProfile) -> StoreResult<String> {
    serde_json::to_string(p).map_err(|e| StoreError::Backend(format!("lock profile: {e}")))
}

/// An `api_keys` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: String,
    lender_id: String,
    role: String,
    label: String,
    secret_hmac: Vec<u8>,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl ApiKeyRow {
    pub(crate) fn decode(self) -> StoreResult<ApiKeyRecord> {
        const T: &str = "api_keys";
        Ok(ApiKeyRecord {
            id: id(T, "id", &self.id)?,
            lender_id: id(T, "lender_id", &self.lender_id)?,
            role: name(T, "role", &self.role, Role::parse)?,
            label: self.label,
            secret_hmac: key(T, "secret_hmac", self.secret_hmac)?,
            created_at: ts(self.created_at),
            revoked_at: self.revoked_at.map(ts),
        })
    }
}

/// A `devices` row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct DeviceRow {
    id: String,
    lender_id: String,
    imei: String,
    imei2: Option<String>,
    serial: Option<String>,
    model: Option<String>,
    state: String,
    key_status: String,
    device_key: Option<Vec<u8>>,
    pending_key: Option<Vec<u8>>,
    last_counter: i64,
    pending_counter: i64,
    retired_key: Option<Vec<u8>>,
    retired_counter: i64,
    lease_seq: i64,
    last_seen_at: Option<i64>,
    enrolled_at: i64,
    updated_at: i64,
    version: i64,
    policy_level: i64,
    notice_seq: i64,
    policy_level_since: i64,
    arrears_amount: i64,
    arrears_currency: Option<String>,
    arrears_since: Option<i64>,
}

/// The `devices` columns holding a device's arrears, as written: `(arrears_amount,
/// arrears_currency, arrears_since)`, `(0, NULL, NULL)` for none.
pub(crate) fn arrears_columns(a: Option<&Arrears>) -> (i64, Option<String>, Option<i64>) {
    match a {
        Some(a) => (
            a.amount.minor(),
            Some(a.amount.currency().code().to_owned()),
            Some(a.since.as_millis()),
        ),
        None => (0, None, None),
    }
}

/// A device's indexed columns as stored: state, arrears amount, currency and since, serial,
/// policy level. Device saves compare them with what the row holds and write them only
/// when they differ (see `sql::SET_INDEXED_COLUMNS_HEAD`).
pub(crate) type IndexedColumns = (
    String,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
    i64,
);

/// A row the batched device `UPDATE` returns (`sql::UPDATE_DEVICES_TAIL`): its id and its
/// indexed columns as stored.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UpdatedDevice {
    id: String,
    state: String,
    arrears_amount: i64,
    arrears_currency: Option<String>,
    arrears_since: Option<i64>,
    serial: Option<String>,
    policy_level: i64,
}

impl UpdatedDevice {
    pub(crate) fn into_parts(self) -> (String, IndexedColumns) {
        let indexed = (
            self.state,
            self.arrears_amount,
            self.arrears_currency,
            self.arrears_since,
            self.serial,
            self.policy_level,
        );
        (self.id, indexed)
    }
}

pub(crate) fn indexed_columns(d: &Device) -> IndexedColumns {
    let (amount, currency, since) = arrears_columns(d.arrears.as_ref());
    let level = i64::from(d.policy_level.code());
    (
        d.state.as_str().to_owned(),
        amount,
        currency,
        since,
        d.serial.clone(),
        level,
    )
}

impl DeviceRow {
    /// The arrears columns back as [`Arrears`]; all three set (a positive amount) or none.
    fn arrears(&self) -> StoreResult<Option<Arrears>> {
        const T: &str = "devices";
        let bad = || StoreError::Corrupt {
            table: T,
            why: format!(
                "arrears {} {:?} since {:?}",
                self.arrears_amount, self.arrears_currency, self.arrears_since
            ),
        };
        match (&self.arrears_currency, self.arrears_since) {
            (None, None) if self.arrears_amount == 0 => Ok(None),
            (Some(code), Some(since)) if self.arrears_amount > 0 => {
                let currency = parse(T, "arrears_currency", code, Currency::parse)?;
                Ok(Some(Arrears {
                    amount: Money::new(currency, self.arrears_amount),
                    since: ts(since),
                }))
            }
            _ => Err(bad()),
        }
    }

    pub(crate) fn decode(self) -> StoreResult<Device> {
        const T: &str = "devices";
        let arrears = self.arrears()?;
        Ok(Device {
            id: id(T, "id", &self.id)?,
            lender_id: id(T, "lender_id", &self.lender_id)?,
            imei: parse(T, "imei", &self.imei, Imei::parse)?,
            imei2: self
                .imei2
                .map(|s| parse(T, "imei2", &s, Imei::parse))
                .transpose()?,
            serial: self.serial,
            model: self.model,
            state: name(T, "state", &self.state, DeviceState::parse)?,
            key_status: name(T, "key_status", &self.key_status, KeyStatus::parse)?,
            device_key: self
                .device_key
                .map(|k| key(T, "device_key", k))
                .transpose()?,
            pending_key: self
                .pending_key
                .map(|k| key(T, "pending_key", k))
                .transpose()?,
            last_counter: counter(T, "last_counter", self.last_counter)?,
            pending_counter: counter(T, "pending_counter", self.pending_counter)?,
            retired_key: self
                .retired_key
                .map(|k| key(T, "retired_key", k))
                .transpose()?,
            retired_counter: counter(T, "retired_counter", self.retired_counter)?,
            lease_seq: counter(T, "lease_seq", self.lease_seq)?,
            policy_level: u8::try_from(self.policy_level)
                .ok()
                .and_then(RestrictionLevel::from_code)
                .ok_or_else(|| StoreError::Corrupt {
                    table: T,
                    why: format!("unknown policy_level {}", self.policy_level),
                })?,
            notice_seq: counter(T, "notice_seq", self.notice_seq)?,
            policy_level_since: ts(self.policy_level_since),
            arrears,
            last_seen_at: self.last_seen_at.map(ts),
            enrolled_at: ts(self.enrolled_at),
            updated_at: ts(self.updated_at),
            version: self.version,
        })
    }
}

/// A `commands` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CommandRow {
    id: String,
    device_id: String,
    lender_id: String,
    kind: String,
    reason: String,
    status: String,
    requested_by: String,
    requested_at: i64,
    effective_at: i64,
    resolved_at: Option<i64>,
}

impl CommandRow {
    pub(crate) fn decode(self) -> StoreResult<Command> {
        const T: &str = "commands";
        Ok(Command {
            id: id(T, "id", &self.id)?,
            device_id: id(T, "device_id", &self.device_id)?,
            lender_id: id(T, "lender_id", &self.lender_id)?,
            kind: name(T, "kind", &self.kind, CommandKind::parse)?,
            reason: self.reason,
            status: name(T, "status", &self.status, CommandStatus::parse)?,
            requested_by: name(T, "requested_by", &self.requested_by, Actor::parse)?,
            requested_at: ts(self.requested_at),
            effective_at: ts(self.effective_at),
            resolved_at: self.resolved_at.map(ts),
        })
    }
}

/// A `timeline_events` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    seq: i64,
    id: String,
    device_id: String,
    lender_id: String,
    at: i64,
    kind: String,
    actor: String,
    reason: Option<String>,
    detail: Option<String>,
}

impl EventRow {
    pub(crate) fn decode(self) -> StoreResult<TimelineEvent> {
        const T: &str = "timeline_events";
        Ok(TimelineEvent {
            id: id(T, "id", &self.id)?,
            seq: self.seq,
            device_id: id(T, "device_id", &self.device_id)?,
            lender_id: id(T, "lender_id", &self.lender_id)?,
            at: ts(self.at),
            kind: name(T, "kind", &self.kind, EventKind::parse)?,
            actor: name(T, "actor", &self.actor, Actor::parse)?,
            reason: self.reason,
            detail: self.detail,
        })
    }
}

/// Decodes every row, failing on the first bad one.
pub(crate) fn decode_all<R, T>(
    rows: Vec<R>,
    decode: impl Fn(R) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    rows.into_iter().map(decode).collect()
}
