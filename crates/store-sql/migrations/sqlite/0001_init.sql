-- lienlock schema, SQLite flavour. Append-only: never edit a released migration, add a new one.
-- Keep in step with ../postgres/0001_init.sql; the conformance suite runs against both.
--
-- Conventions (shared with PostgreSQL):
-- * ids are lowercase hyphenated UUIDv7 text, so text order is creation order;
-- * times are epoch milliseconds (INTEGER), never a backend's own time type;
-- * enums are stored by their stable names, without CHECK constraints: the Rust code is the one
--   place that knows the names, and an unknown name reads back as a "corrupt" error rather
--   than being impossible to add in a later release without a migration;
-- * STRICT tables, so a value of the wrong type is refused instead of silently stored.

CREATE TABLE lenders (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    support_phone TEXT    NOT NULL,
    support_url   TEXT    NOT NULL,
    lock_message  TEXT    NOT NULL,
    lock_profile  TEXT    NOT NULL, -- RestrictionProfile as JSON
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id          TEXT    NOT NULL PRIMARY KEY,
    lender_id   TEXT    NOT NULL REFERENCES lenders (id),
    role        TEXT    NOT NULL,
    label       TEXT    NOT NULL,
    secret_hmac BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;

CREATE TABLE devices (
    id              TEXT    NOT NULL PRIMARY KEY,
    lender_id       TEXT    NOT NULL REFERENCES lenders (id),
    imei            TEXT    NOT NULL,
    imei2           TEXT,
    serial          TEXT,
    model           TEXT,
    state           TEXT    NOT NULL,
    key_status      TEXT    NOT NULL,
    device_key      BLOB,
    pending_key     BLOB,
    last_counter    INTEGER NOT NULL, -- u64 stored as i64; the store refuses larger values
    pending_counter INTEGER NOT NULL,
    retired_key     BLOB,             -- the key an approval replaced, kept to refuse its replays
    retired_counter INTEGER NOT NULL,
    lease_seq       INTEGER NOT NULL,
    last_seen_at    INTEGER,
    enrolled_at     INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    version         INTEGER NOT NULL, -- optimistic concurrency, bumped by every save
    -- Serves tenant-scoped lookups and lists (lender_id, id) and is the target of the
    -- composite foreign keys below, which make a command or event of another lender's
    -- device impossible to store.
    UNIQUE (lender_id, id)
) STRICT;

-- One active enrollment per IMEI; a released device frees its IMEIs for re-enrollment.
-- (An IMEI equal to another enrollment's *other* IMEI is refused by the store's transaction.)
CREATE UNIQUE INDEX devices_active_imei ON devices (imei) WHERE state <> 'released';
CREATE UNIQUE INDEX devices_active_imei2 ON devices (imei2)
    WHERE imei2 IS NOT NULL AND state <> 'released';
CREATE INDEX devices_lender_state ON devices (lender_id, state, id);
-- Check-in looks devices up by either IMEI, released ones included, which the partial
-- indexes above cannot serve.
CREATE INDEX devices_imei ON devices (imei);
CREATE INDEX devices_imei2 ON devices (imei2);

CREATE TABLE commands (
    id           TEXT    NOT NULL PRIMARY KEY,
    device_id    TEXT    NOT NULL,
    lender_id    TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    requested_by TEXT    NOT NULL,
    requested_at INTEGER NOT NULL,
    effective_at INTEGER NOT NULL,
    resolved_at  INTEGER,
    FOREIGN KEY (lender_id, device_id) REFERENCES devices (lender_id, id)
) STRICT;

CREATE INDEX commands_due ON commands (status, effective_at);
CREATE INDEX commands_device ON commands (device_id);

CREATE TABLE timeline_events (
    -- Insertion order, the timeline cursor. AUTOINCREMENT so a number is never reused.
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    id        TEXT    NOT NULL UNIQUE,
    device_id TEXT    NOT NULL,
    lender_id TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    actor     TEXT    NOT NULL,
    reason    TEXT,
    detail    TEXT,
    FOREIGN KEY (lender_id, device_id) REFERENCES devices (lender_id, id)
) STRICT;

CREATE INDEX timeline_events_device_seq ON timeline_events (device_id, seq);
