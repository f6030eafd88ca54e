//! The SQL of contracts, payments, notices and disputes, under the same rules as the
//! parent module: one text for both backends, `CASE` rather than `LEAST`/`MIN` (which the
//! two spell differently), and one statement per optional filter so each gets an index.

// ---- contracts ----------------------------------------------------------------------------

macro_rules! contract_cols {
    () => {
        "id, lender_id, device_id, reference, currency, terms, policy, state, created_at, \
         updated_at, next_evaluation_at, version, wake_seq"
    };
}

pub(crate) const INSERT_CONTRACT: &str = concat!(
    "INSERT INTO contracts (",
    contract_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);

/// The contract saves of `save_device` and `save_devices` (completed with
/// `VALUES (...), ...`), checked against the versions that were read; returns the ids saved.
///
/// `next_evaluation_at` becomes the new time (`v.next_at`) unless a wake-up was recorded
/// since the read (the stored `wake_seq` moved past `v.wake_seq`): then the earlier of the
/// new and the stored time, because the stored one already includes that wake-up and the
/// evaluation that produced the new one did not see its cause. A closing save (no new time)
/// always clears it. The contract leaves the wake-up list (`woken_at`) when the save saw the
/// latest wake-up or closes it.
///
/// State and reference are written by [`SET_CONTRACT_STATES_HEAD`], only where they change
/// (see `SET_INDEXED_COLUMNS_HEAD` for why).
pub(crate) const UPDATE_CONTRACTS_HEAD: &str = "WITH v (id, lender_id, device_id, version, \
     wake_seq, currency, terms, policy, updated_at, next_at) AS (";
pub(crate) const UPDATE_CONTRACTS_TAIL: &str = ") UPDATE contracts SET \
     currency = v.currency, terms = v.terms, policy = v.policy, updated_at = v.updated_at, \
     next_evaluation_at = CASE \
         WHEN v.next_at IS NULL THEN NULL \
         WHEN contracts.wake_seq = v.wake_seq THEN v.next_at \
         WHEN contracts.next_evaluation_at < v.next_at THEN contracts.next_evaluation_at \
         ELSE v.next_at END, \
     woken_at = CASE WHEN v.next_at IS NULL OR contracts.wake_seq = v.wake_seq THEN NULL \
         ELSE contracts.woken_at END, \
     version = contracts.version + 1 \
     FROM v WHERE contracts.id = v.id AND contracts.lender_id = v.lender_id \
     AND contracts.device_id = v.device_id AND contracts.version = v.version \
     RETURNING contracts.id";

/// The rest of a contract save, after [`UPDATE_CONTRACTS_HEAD`] has checked the versions
/// and locked the rows; touches only the rows whose state or reference changes.
pub(crate) const SET_CONTRACT_STATES_HEAD: &str = "WITH v (id, state, reference) AS (";
pub(crate) const SET_CONTRACT_STATES_TAIL: &str = ") UPDATE contracts SET \
     state = v.state, reference = v.reference FROM v WHERE contracts.id = v.id \
     AND (contracts.state <> v.state OR contracts.reference IS DISTINCT FROM v.reference)";

/// A wake-up of one active contract of a lender: evaluate it no later than $1. Leaves the
/// version alone and counts the wake-up (see `UPDATE_CONTRACTS_HEAD`).
pub(crate) const WAKE_CONTRACT: &str = "UPDATE contracts SET \
     next_evaluation_at = CASE \
         WHEN next_evaluation_at IS NULL OR next_evaluation_at > $1 THEN $1 \
         ELSE next_evaluation_at END, \
     woken_at = CASE WHEN woken_at IS NULL OR woken_at > $1 THEN $1 ELSE woken_at END, \
     wake_seq = wake_seq + 1 \
     WHERE id = $2 AND lender_id = $3 AND state = 'active'";

/// [`WAKE_CONTRACT`] for the active contract of a device, if it has one.
pub(crate) const WAKE_DEVICE_CONTRACT: &str = "UPDATE contracts SET \
     next_evaluation_at = CASE \
         WHEN next_evaluation_at IS NULL OR next_evaluation_at > $1 THEN $1 \
         ELSE next_evaluation_at END, \
     woken_at = CASE WHEN woken_at IS NULL OR woken_at > $1 THEN $1 ELSE woken_at END, \
     wake_seq = wake_seq + 1 \
     WHERE device_id = $2 AND lender_id = $3 AND state = 'active'";

pub(crate) const CONTRACT_SCOPED: &str = concat!(
    "SELECT ",
    contract_cols!(),
    " FROM contracts WHERE id = $1 AND lender_id = $2"
);

pub(crate) const CONTRACT_UNSCOPED: &str =
    concat!("SELECT ", contract_cols!(), " FROM contracts WHERE id = $1");

/// Served by the partial unique index `contracts_active_device`.
pub(crate) const ACTIVE_CONTRACT: &str = concat!(
    "SELECT ",
    contract_cols!(),
    " FROM contracts WHERE device_id = $1 AND state = 'active'"
);

/// The active contract first, then the newest.
pub(crate) const CONTRACT_FOR_DEVICE: &str = concat!(
    "SELECT ",
    contract_cols!(),
    " FROM contracts WHERE lender_id = $1 AND device_id = $2 \
     ORDER BY CASE WHEN state = 'active' THEN 0 ELSE 1 END, created_at DESC, id DESC \
     LIMIT 1"
);

pub(crate) const CONTRACT_BY_REFERENCE: &str = concat!(
    "SELECT ",
    contract_cols!(),
    " FROM contracts WHERE lender_id = $1 AND reference = $2"
);

pub(crate) const LIST_CONTRACTS: &str = concat!(
    "SELECT ",
    contract_cols!(),
    " FROM contracts WHERE lender_id = $1 ORDER BY id LIMIT $2"
);

pub(crate) const LIST_CONTRACTS_AFTER: &str = concat!(
    "SELECT ",
    contract_cols!(),
    " FROM contracts WHERE lender_id = $1 AND id > $2 ORDER BY id LIMIT $3"
);

/// Served by the partial index `contracts_due (next_evaluation_at, id) WHERE state =
/// 'active'`: the condition repeats the index's predicate word for word so both planners
/// can use it, and the order is the index's, so the scan stops after `LIMIT` rows.
pub(crate) const DUE_CONTRACTS: &str = concat!(
    "SELECT ",
    contract_cols!(),
    " FROM contracts WHERE state = 'active' AND next_evaluation_at <= $1 \
     ORDER BY next_evaluation_at, id LIMIT $2"
);

/// Contracts a wake-up touched since their last evaluation, first woken first: served
/// before [`DUE_CONTRACTS`] (migration 0003 says why).
pub(crate) const WOKEN_CONTRACTS: &str = concat!(
    "SELECT ",
    contract_cols!(),
    " FROM contracts WHERE woken_at IS NOT NULL AND woken_at <= $1 AND state = 'active' \
     ORDER BY woken_at, id LIMIT $2"
);

/// Pulls every active contract of a lender in to be evaluated no later than $1, after a
/// policy change: counted as a wake-up (so a racing evaluation cannot postpone it) but not
/// marked woken, since it is routine work that must not queue ahead of payments.
pub(crate) const PULL_IN_LENDER_CONTRACTS: &str = "UPDATE contracts SET \
     next_evaluation_at = CASE WHEN next_evaluation_at > $1 THEN $1 ELSE next_evaluation_at END, \
     wake_seq = wake_seq + 1 \
     WHERE lender_id = $2 AND state = 'active'";

pub(crate) const CONTRACT_EXISTS: &str = "SELECT id FROM contracts WHERE id = $1";

pub(crate) const CONTRACT_CURRENCY: &str =
    "SELECT currency FROM contracts WHERE id = $1 AND lender_id = $2";

pub(crate) const CONTRACT_OF_DEVICE: &str =
    "SELECT id FROM contracts WHERE id = $1 AND lender_id = $2 AND device_id = $3";

// ---- payments -----------------------------------------------------------------------------

macro_rules! payment_cols {
    () => {
        "id, lender_id, contract_id, kind, reverses, amount, currency, received_at, \
         recorded_at, channel, external_ref, payer_hint, idempotency_key, request_hash, \
         assigned_at"
    };
}

/// Inserts nothing when the id, the idempotency key or the external reference is taken;
/// the caller then looks for the entry that holds it. (A concurrent insert of the same key
/// is waited for, so the later one finds the earlier one's committed row.)
pub(crate) const INSERT_PAYMENT: &str = concat!(
    "INSERT INTO payments (",
    payment_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
     ON CONFLICT DO NOTHING"
);

pub(crate) const PAYMENT_BY_KEY: &str = concat!(
    "SELECT ",
    payment_cols!(),
    " FROM payments WHERE lender_id = $1 AND idempotency_key = $2"
);

pub(crate) const PAYMENT_BY_EXTERNAL_REF: &str = concat!(
    "SELECT ",
    payment_cols!(),
    " FROM payments WHERE lender_id = $1 AND channel = $2 AND external_ref = $3"
);

pub(crate) const PAYMENT_SCOPED: &str = concat!(
    "SELECT ",
    payment_cols!(),
    " FROM payments WHERE id = $1 AND lender_id = $2"
);

pub(crate) const CONTRACT_PAYMENTS: &str = concat!(
    "SELECT ",
    payment_cols!(),
    " FROM payments WHERE contract_id = $1 AND lender_id = $2 ORDER BY received_at, id"
);

pub(crate) const CONTRACT_PAYMENTS_UNSCOPED: &str = concat!(
    "SELECT ",
    payment_cols!(),
    " FROM payments WHERE contract_id = $1 ORDER BY received_at, id"
);

pub(crate) const UNMATCHED_PAYMENTS: &str = concat!(
    "SELECT ",
    payment_cols!(),
    " FROM payments WHERE lender_id = $1 AND contract_id IS NULL ORDER BY id LIMIT $2"
);

pub(crate) const UNMATCHED_PAYMENTS_AFTER: &str = concat!(
    "SELECT ",
    payment_cols!(),
    " FROM payments WHERE lender_id = $1 AND contract_id IS NULL AND id > $2 \
     ORDER BY id LIMIT $3"
);

/// The one change a ledger entry ever sees; only while it is unmatched.
pub(crate) const ASSIGN_PAYMENT: &str = "UPDATE payments SET contract_id = $1, assigned_at = $2 \
     WHERE id = $3 AND lender_id = $4 AND contract_id IS NULL";

// ---- notices ------------------------------------------------------------------------------

macro_rules! notice_cols {
    () => {
        "id, lender_id, device_id, contract_id, seq, kind, message, created_at, delivered_at"
    };
}

/// One notice: the bulk loader's row template (`lienlock bench`); the store inserts
/// notices with [`INSERT_NOTICES_HEAD`].
#[cfg_attr(not(feature = "bench"), allow(dead_code))]
pub(crate) const INSERT_NOTICE: &str = concat!(
    "INSERT INTO notices (",
    notice_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
);

/// Completed with `VALUES (...), (...)`: one statement for a batch's notices.
pub(crate) const INSERT_NOTICES_HEAD: &str = concat!("INSERT INTO notices (", notice_cols!(), ") ");

pub(crate) const MARK_NOTICES_DELIVERED: &str = "UPDATE notices SET delivered_at = $1 \
     WHERE device_id = $2 AND delivered_at IS NULL AND seq <= $3";

pub(crate) const UNDELIVERED_NOTICES: &str = concat!(
    "SELECT ",
    notice_cols!(),
    " FROM notices WHERE device_id = $1 AND delivered_at IS NULL ORDER BY seq LIMIT $2"
);

pub(crate) const CONTRACT_NOTICES: &str = concat!(
    "SELECT ",
    notice_cols!(),
    " FROM notices WHERE contract_id = $1 ORDER BY seq"
);

pub(crate) const DEVICE_NOTICES: &str = concat!(
    "SELECT ",
    notice_cols!(),
    " FROM notices WHERE device_id = $1 AND lender_id = $2 ORDER BY seq"
);

// ---- disputes -----------------------------------------------------------------------------

macro_rules! dispute_cols {
    () => {
        "id, lender_id, device_id, contract_id, opened_by, reason, opened_at, \
         temporary_unlock_until, closed_at, closed_by, resolution"
    };
}

pub(crate) const INSERT_DISPUTE: &str = concat!(
    "INSERT INTO disputes (",
    dispute_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
);

/// Only an open dispute changes: closing is final.
pub(crate) const UPDATE_DISPUTE: &str = "UPDATE disputes SET \
     temporary_unlock_until = $1, closed_at = $2, closed_by = $3, resolution = $4 \
     WHERE id = $5 AND lender_id = $6 AND closed_at IS NULL";

/// The device of one of a lender's disputes and whether it is closed.
pub(crate) const DISPUTE_STATUS: &str =
    "SELECT device_id, closed_at FROM disputes WHERE id = $1 AND lender_id = $2";

pub(crate) const DISPUTE_SCOPED: &str = concat!(
    "SELECT ",
    dispute_cols!(),
    " FROM disputes WHERE id = $1 AND lender_id = $2"
);

pub(crate) const DEVICE_DISPUTES: &str = concat!(
    "SELECT ",
    dispute_cols!(),
    " FROM disputes WHERE device_id = $1 AND lender_id = $2 ORDER BY opened_at, id"
);

pub(crate) const CONTRACT_DISPUTES: &str = concat!(
    "SELECT ",
    dispute_cols!(),
    " FROM disputes WHERE contract_id = $1 ORDER BY opened_at, id"
);

// ---- the scheduler's batched reads -------------------------------------------------------

/// The batched reads of the scheduler (see `Store::contract_facts_unscoped`): each is
/// completed with `(id, id, ...)` and, where given, the ordering.
pub(crate) const PAYMENTS_OF_CONTRACTS_IN: &str = concat!(
    "SELECT ",
    payment_cols!(),
    " FROM payments WHERE contract_id IN "
);
pub(crate) const PAYMENTS_OF_CONTRACTS_ORDER: &str = " ORDER BY contract_id, received_at, id";
pub(crate) const NOTICES_OF_CONTRACTS_IN: &str = concat!(
    "SELECT ",
    notice_cols!(),
    " FROM notices WHERE contract_id IN "
);
pub(crate) const NOTICES_OF_CONTRACTS_ORDER: &str = " ORDER BY contract_id, seq";
pub(crate) const DISPUTES_OF_CONTRACTS_IN: &str = concat!(
    "SELECT ",
    dispute_cols!(),
    " FROM disputes WHERE contract_id IN "
);
pub(crate) const DISPUTES_OF_CONTRACTS_ORDER: &str = " ORDER BY contract_id, opened_at, id";
