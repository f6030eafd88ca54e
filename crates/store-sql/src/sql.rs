//! The SQL text, shared by both backends: SQLite accepts PostgreSQL's `$n` placeholders, and
//! every statement here sticks to the common subset (no `RETURNING`, no `FOR UPDATE`, no
//! backend functions). Column lists are written once, as macros so `concat!` can build
//! `&'static str` statements from them, and match the row structs in [`crate::rows`].

mod contracts;

pub(crate) use contracts::*;

/// `/readyz`'s probe: one row rewritten, so that a database that answers reads but takes
/// no writes (a full disk, a read-only file or standby) reads as not ready.
pub(crate) const PING: &str = "INSERT INTO readiness_probe (id, writes) VALUES (1, 1) \
     ON CONFLICT (id) DO UPDATE SET writes = readiness_probe.writes + 1";

// ---- lenders and keys -------------------------------------------------------------------

macro_rules! lender_cols {
    () => {
        "id, name, support_phone, support_url, lock_message, lock_profile, created_at, \
         compliance_profile, policy"
    };
}

pub(crate) const INSERT_LENDER: &str = "INSERT INTO lenders \
     (id, name, support_phone, support_url, lock_message, lock_profile, created_at, \
     compliance_profile, policy) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub(crate) const SET_LENDER_POLICY: &str =
    "UPDATE lenders SET compliance_profile = $1, policy = $2 WHERE id = $3";

pub(crate) const LENDER_BY_ID: &str =
    concat!("SELECT ", lender_cols!(), " FROM lenders WHERE id = $1");

pub(crate) const ALL_LENDERS: &str = concat!(
    "SELECT ",
    lender_cols!(),
    " FROM lenders ORDER BY created_at, id"
);

pub(crate) const INSERT_API_KEY: &str = "INSERT INTO api_keys \
     (id, lender_id, role, label, secret_hmac, created_at, revoked_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub(crate) const API_KEY_BY_ID: &str = "SELECT \
     id, lender_id, role, label, secret_hmac, created_at, revoked_at \
     FROM api_keys WHERE id = $1";

// ---- devices ------------------------------------------------------------------------------

macro_rules! device_cols {
    () => {
        "id, lender_id, imei, imei2, serial, model, state, key_status, device_key, \
         pending_key, last_counter, pending_counter, retired_key, retired_counter, lease_seq, \
         last_seen_at, enrolled_at, updated_at, version, policy_level, notice_seq, \
         policy_level_since, arrears_amount, arrears_currency, arrears_since"
    };
}

/// The columns of `devices`, in `DeviceRow`'s order.
pub(crate) const DEVICE_COLS: &str = device_cols!();

pub(crate) const INSERT_DEVICE: &str = concat!(
    "INSERT INTO devices (",
    device_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
     $18, $19, $20, $21, $22, $23, $24, $25)"
);

/// Other active enrollments using either of the new device's IMEIs in either column. Run
/// after the insert, inside the same transaction: the partial unique indexes catch
/// imei/imei and imei2/imei2 clashes, this catches the crossed ones.
pub(crate) const ACTIVE_IMEI_CLASH: &str = "SELECT imei, imei2 FROM devices \
     WHERE id <> $1 AND state <> 'released' \
     AND (imei = $2 OR imei2 = $2 OR imei = $3 OR imei2 = $3)";

pub(crate) const DEVICE_EXISTS: &str = "SELECT id FROM devices WHERE id = $1";

pub(crate) const DEVICE_OWNED: &str = "SELECT id FROM devices WHERE id = $1 AND lender_id = $2";

pub(crate) const DEVICE_SCOPED: &str = concat!(
    "SELECT ",
    device_cols!(),
    " FROM devices WHERE id = $1 AND lender_id = $2"
);

pub(crate) const DEVICE_UNSCOPED: &str =
    concat!("SELECT ", device_cols!(), " FROM devices WHERE id = $1");

/// Devices by id, for the scheduler's batched reads: completed with `(id, id, ...)`.
pub(crate) const DEVICES_IN: &str =
    concat!("SELECT ", device_cols!(), " FROM devices WHERE id IN ");

/// Not-released enrollments first, then the newest.
pub(crate) const DEVICE_FOR_CHECKIN: &str = concat!(
    "SELECT ",
    device_cols!(),
    " FROM devices WHERE imei = $1 OR imei2 = $1 \
     ORDER BY CASE WHEN state = 'released' THEN 1 ELSE 0 END, enrolled_at DESC, id DESC \
     LIMIT 1"
);

/// What a check-in reads, for the devices that `$filter` (a `WHERE` clause and what follows
/// it over `devices`) leaves: see [`CHECKIN_VIEW`].
macro_rules! checkin_view {
    ($filter:literal) => {
        checkin_view!("", $filter)
    };
    // `$first`: columns before the device's, in both the inner and the outer row.
    ($first:literal, $filter:literal) => {
        concat!(
            "SELECT c.*, l.name AS l_name, l.support_phone AS l_support_phone, \
             l.support_url AS l_support_url, l.lock_message AS l_lock_message, \
             l.lock_profile AS l_lock_profile, l.created_at AS l_created_at, \
             l.compliance_profile AS l_compliance_profile, l.policy AS l_policy \
             FROM (SELECT ",
            $first,
            device_cols!(),
            ", (SELECT COALESCE(MAX(counter), 0) FROM unlock_codes \
               WHERE device_id = devices.id AND format = 'lc1') AS codes_through, \
             CAST(CASE WHEN EXISTS (SELECT 1 FROM commands \
               WHERE device_id = devices.id AND status = 'pending') THEN 1 ELSE 0 END AS BIGINT) \
               AS has_pending, \
             (SELECT MIN(seq) FROM notices WHERE device_id = devices.id AND delivered_at IS NULL) \
               AS undelivered_from \
             FROM devices ",
            $filter,
            ") c JOIN lenders l ON l.id = c.lender_id"
        )
    };
}

/// [`DEVICE_FOR_CHECKIN`] with the rest of what a check-in reads (`Store::checkin_view`), in
/// one statement: the device's columns in `DeviceRow`'s order, the highest LC1 code counter,
/// whether any command is pending (then read by [`PENDING_COMMANDS`]), the lowest
/// undelivered notice's sequence (NULL for none; the `(device_id, seq)` index) and the lender's
/// columns but its id, prefixed `l_`. One round trip instead of four: each is a pair of
/// thread hand-offs through sqlx's SQLite worker, or a network round trip to PostgreSQL.
pub(crate) const CHECKIN_VIEW: &str = checkin_view!(
    "WHERE imei = $1 OR imei2 = $1 \
     ORDER BY CASE WHEN state = 'released' THEN 1 ELSE 0 END, enrolled_at DESC, id DESC \
     LIMIT 1"
);

/// [`CHECKIN_VIEW`] when the phone's first IMEI belongs to an enrollment that is not
/// released: one probe of the partial unique index `devices_active_imei`, where the general
/// statement probes both IMEI indexes and sorts what they find. That enrollment is the one
/// [`CHECKIN_VIEW`] finds, since no other enrollment that is not released uses the IMEI in
/// either column (the partial unique indexes, and `ACTIVE_IMEI_CLASH` run by the same single
/// writer as the insert). When it finds nothing, [`CHECKIN_VIEW`] decides.
pub(crate) const CHECKIN_VIEW_ACTIVE_IMEI: &str =
    checkin_view!("WHERE imei = $1 AND state <> 'released'");

/// The views of the enrollments in force past `devices.rowid` `$1`, by rowid, `$2` at most,
/// with the rowid first (SQLite's warm pass: `sqlite_views`).
pub(crate) const CHECKIN_VIEWS_AFTER_ROWID: &str = checkin_view!(
    "devices.rowid AS device_rowid, ",
    "WHERE rowid > $1 AND state <> 'released' ORDER BY rowid LIMIT $2"
);

/// The view of the enrollment in force at `devices.rowid` `$1`, with the rowid first (the
/// reloading of dropped views: `sqlite_views_keeper`).
pub(crate) const CHECKIN_VIEW_AT_ROWID: &str = checkin_view!(
    "devices.rowid AS device_rowid, ",
    "WHERE rowid = $1 AND state <> 'released'"
);

/// [`CHECKIN_VIEW_ACTIVE_IMEI`] for many IMEIs at once (`$1`, an array; PostgreSQL's
/// check-in reader, `postgres_reader`): at most one row each, by the same partial unique
/// index.
pub(crate) const CHECKIN_VIEWS_ACTIVE_IMEI: &str =
    checkin_view!("WHERE imei = ANY($1) AND state <> 'released'");

/// The enrollment a phone naming itself by serial number (`$1`) belongs to, across lenders:
/// one that is not released first, then the newest (migration 0009's index).
pub(crate) const DEVICE_BY_SERIAL: &str = concat!(
    "SELECT ",
    device_cols!(),
    " FROM devices WHERE serial = $1 \
     ORDER BY CASE WHEN state = 'released' THEN 1 ELSE 0 END, enrolled_at DESC, id DESC \
     LIMIT 1"
);

/// [`DEVICE_FOR_CHECKIN`] within one lender.
pub(crate) const DEVICE_BY_IMEI: &str = concat!(
    "SELECT ",
    device_cols!(),
    // The two IMEI lookups go through their own indexes. Written as `imei = $1 OR imei2 =
    // $1` next to `lender_id`, SQLite without table statistics judged the lender as
    // selective as the IMEI and walked all of a lender's devices: 3.4 s at a million
    // (docs/benchmarks.md, "Console at 1,000,000 devices").
    " FROM devices WHERE id IN (SELECT id FROM devices WHERE imei = $1 \
     UNION ALL SELECT id FROM devices WHERE imei2 = $1) AND lender_id = $2 \
     ORDER BY CASE WHEN state = 'released' THEN 1 ELSE 0 END, enrolled_at DESC, id DESC \
     LIMIT 1"
);

/// The caller's devices in an optional state after an optional cursor. One statement per
/// combination rather than `($n IS NULL OR col = $n)`, so each gets a plan that uses the
/// `(lender_id, state, id)` or `(lender_id, id)` index. Parameters in order: lender, then
/// state and cursor when present, then the limit.
pub(crate) fn list_devices(by_state: bool, after: bool) -> &'static str {
    macro_rules! list {
        ($filter:literal) => {
            concat!(
                "SELECT ",
                device_cols!(),
                " FROM devices WHERE lender_id = $1",
                $filter
            )
        };
    }
    match (by_state, after) {
        (false, false) => list!(" ORDER BY id LIMIT $2"),
        (true, false) => list!(" AND state = $2 ORDER BY id LIMIT $3"),
        (false, true) => list!(" AND id > $2 ORDER BY id LIMIT $3"),
        (true, true) => list!(" AND state = $2 AND id > $3 ORDER BY id LIMIT $4"),
    }
}

// The device saves (see `store_batch`): each statement is completed with `VALUES (...), ...`
// for one write or many, so one statement covers a whole batch.

/// The devices' rows where the version still matches; returns their ids. Identity columns
/// (`id`, `lender_id`, `imei`, `imei2`, `enrolled_at`) are never rewritten, and the indexed
/// columns (state, arrears, serial, policy level) are left to [`SET_INDEXED_COLUMNS_HEAD`].
/// The version check and the row lock are one statement: of two writers that read the same
/// version, the second matches no row.
pub(crate) const UPDATE_DEVICES_HEAD: &str = "WITH v (id, lender_id, version, model, \
     key_status, device_key, pending_key, last_counter, pending_counter, lease_seq, \
     last_seen_at, updated_at, retired_key, retired_counter, notice_seq, \
     policy_level_since) AS (";
pub(crate) const UPDATE_DEVICES_TAIL: &str = ") UPDATE devices SET \
     model = v.model, key_status = v.key_status, \
     device_key = v.device_key, pending_key = v.pending_key, last_counter = v.last_counter, \
     pending_counter = v.pending_counter, lease_seq = v.lease_seq, \
     last_seen_at = v.last_seen_at, updated_at = v.updated_at, retired_key = v.retired_key, \
     retired_counter = v.retired_counter, \
     notice_seq = v.notice_seq, policy_level_since = v.policy_level_since, \
     version = devices.version + 1 \
     FROM v WHERE devices.id = v.id AND devices.lender_id = v.lender_id \
     AND devices.version = v.version RETURNING devices.id, devices.state, \
     devices.arrears_amount, devices.arrears_currency, devices.arrears_since, devices.serial, \
     devices.policy_level";

/// The indexed columns (state, arrears, serial, policy level), apart from the rest of the
/// row and only where one of them changes: indexes cover them (three the state,
/// `devices_lender_arrears` the arrears, `devices_serial`, `devices_lender_policy`), and
/// SQLite rewrites an index entry whenever an UPDATE assigns one of its columns, changed or
/// not. Most saves (check-ins, the scheduler) change none of them; assigning them anyway
/// cost a check-in batch about twice the time (docs/benchmarks.md). One statement for all,
/// as each changes rarely: a change of one rewrites the others' index entries too, which
/// costs less than a second round trip on every save.
pub(crate) const SET_INDEXED_COLUMNS_HEAD: &str = "WITH v (id, state, arrears_amount, \
     arrears_currency, arrears_since, serial, policy_level) AS (";
pub(crate) const SET_INDEXED_COLUMNS_TAIL: &str = ") UPDATE devices SET state = v.state, \
     arrears_amount = v.arrears_amount, arrears_currency = v.arrears_currency, \
     arrears_since = v.arrears_since, serial = v.serial, policy_level = v.policy_level \
     FROM v WHERE devices.id = v.id AND (devices.state <> v.state \
     OR devices.arrears_amount <> v.arrears_amount \
     OR devices.arrears_currency IS DISTINCT FROM v.arrears_currency \
     OR devices.arrears_since IS DISTINCT FROM v.arrears_since \
     OR devices.serial IS DISTINCT FROM v.serial \
     OR devices.policy_level <> v.policy_level)";

/// Takes the device row's write lock without changing it; see `append_events`.
pub(crate) const TOUCH_DEVICE: &str = "UPDATE devices SET version = version WHERE id = $1";

/// [`TOUCH_DEVICE`] for one of a lender's devices: no row affected means not the lender's.
pub(crate) const TOUCH_DEVICE_OWNED: &str =
    "UPDATE devices SET version = version WHERE id = $1 AND lender_id = $2";

// ---- commands -------------------------------------------------------------------------------

macro_rules! command_cols {
    () => {
        "id, device_id, lender_id, kind, reason, status, requested_by, requested_at, \
         effective_at, resolved_at"
    };
}

pub(crate) const INSERT_COMMAND: &str = concat!(
    "INSERT INTO commands (",
    command_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
);

/// Scoped to the written device too, so a resolution can never touch another device's row.
pub(crate) const RESOLVE_COMMAND: &str = "UPDATE commands SET status = $1, resolved_at = $2 \
     WHERE id = $3 AND device_id = $4 AND status = 'pending'";

pub(crate) const DEVICE_COMMANDS: &str = concat!(
    "SELECT ",
    command_cols!(),
    " FROM commands WHERE device_id = $1 AND lender_id = $2 ORDER BY requested_at, id"
);

pub(crate) const DEVICE_COMMANDS_IN_STATUS: &str = concat!(
    "SELECT ",
    command_cols!(),
    " FROM commands WHERE device_id = $1 AND lender_id = $2 AND status = $3 \
     ORDER BY requested_at, id"
);

pub(crate) const PENDING_COMMANDS: &str = concat!(
    "SELECT ",
    command_cols!(),
    " FROM commands WHERE device_id = $1 AND status = 'pending' ORDER BY requested_at, id"
);

pub(crate) const DUE_COMMANDS: &str = concat!(
    "SELECT ",
    command_cols!(),
    " FROM commands WHERE status = 'pending' AND effective_at <= $1 \
     ORDER BY effective_at, id LIMIT $2"
);

// ---- timeline -------------------------------------------------------------------------------

/// `seq` is left out: the database assigns it.
/// Completed with `VALUES (...), (...)`: one statement for a batch's events.
pub(crate) const INSERT_EVENTS_HEAD: &str = "INSERT INTO timeline_events \
     (id, device_id, lender_id, at, kind, actor, reason, detail) ";

pub(crate) const INSERT_EVENT: &str = "INSERT INTO timeline_events \
     (id, device_id, lender_id, at, kind, actor, reason, detail) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub(crate) const TIMELINE: &str = "SELECT \
     seq, id, device_id, lender_id, at, kind, actor, reason, detail FROM timeline_events \
     WHERE device_id = $1 AND lender_id = $2 AND seq > $3 ORDER BY seq LIMIT $4";
