-- lienlock schema, PostgreSQL flavour. Append-only: never edit a released migration, add a
-- new one. Keep in step with ../sqlite/0001_init.sql; the conformance suite runs against both.
--
-- Conventions (shared with SQLite):
-- * ids are lowercase hyphenated UUIDv7 text, so text order is creation order. Text columns
--   that are compared or ordered use COLLATE "C" (byte order): a locale collation could order
--   them differently from SQLite and from the ids' creation order;
-- * times are epoch milliseconds (BIGINT), never TIMESTAMPTZ, so no time zone is ever applied;
-- * enums are stored by their stable names, without CHECK constraints: the Rust code is the one
--   place that knows the names, and an unknown name reads back as a "corrupt" error rather
--   than being impossible to add in a later release without a migration.

CREATE TABLE lenders (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name          TEXT   NOT NULL,
    support_phone TEXT   NOT NULL,
    support_url   TEXT   NOT NULL,
    lock_message  TEXT   NOT NULL,
    lock_profile  TEXT   NOT NULL, -- RestrictionProfile as JSON
    created_at    BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    lender_id   TEXT COLLATE "C" NOT NULL REFERENCES lenders (id),
    role        TEXT   NOT NULL,
    label       TEXT   NOT NULL,
    secret_hmac BYTEA  NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE devices (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    lender_id       TEXT COLLATE "C" NOT NULL REFERENCES lenders (id),
    imei            TEXT COLLATE "C" NOT NULL,
    imei2           TEXT COLLATE "C",
    serial          TEXT,
    model           TEXT,
    state           TEXT   NOT NULL,
    key_status      TEXT   NOT NULL,
    device_key      BYTEA,
    pending_key     BYTEA,
    last_counter    BIGINT NOT NULL, -- u64 stored as i64; the store refuses larger values
    pending_counter BIGINT NOT NULL,
    retired_key     BYTEA,             -- the key an approval replaced, kept to refuse its replays
    retired_counter BIGINT NOT NULL,
    lease_seq       BIGINT NOT NULL,
    last_seen_at    BIGINT,
    enrolled_at     BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    version         BIGINT NOT NULL, -- optimistic concurrency, bumped by every save
    -- Serves tenant-scoped lookups and lists (lender_id, id) and is the target of the
    -- composite foreign keys below, which make a command or event of another lender's
    -- device impossible to store.
    UNIQUE (lender_id, id)
);

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
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    device_id    TEXT COLLATE "C" NOT NULL,
    lender_id    TEXT COLLATE "C" NOT NULL,
    kind         TEXT   NOT NULL,
    reason       TEXT   NOT NULL,
    status       TEXT   NOT NULL,
    requested_by TEXT   NOT NULL,
    requested_at BIGINT NOT NULL,
    effective_at BIGINT NOT NULL,
    resolved_at  BIGINT,
    FOREIGN KEY (lender_id, device_id) REFERENCES devices (lender_id, id)
);

CREATE INDEX commands_due ON commands (status, effective_at);
CREATE INDEX commands_device ON commands (device_id);

CREATE TABLE timeline_events (
    -- Insertion order, the timeline cursor.
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id        TEXT COLLATE "C" NOT NULL UNIQUE,
    device_id TEXT COLLATE "C" NOT NULL,
    lender_id TEXT COLLATE "C" NOT NULL,
    at        BIGINT NOT NULL,
    kind      TEXT   NOT NULL,
    actor     TEXT   NOT NULL,
    reason    TEXT,
    detail    TEXT,
    FOREIGN KEY (lender_id, device_id) REFERENCES devices (lender_id, id)
);

CREATE INDEX timeline_events_device_seq ON timeline_events (device_id, seq);
