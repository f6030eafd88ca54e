-- The audit trail: every state-changing action, hash-chained. SQLite flavour; keep in step
-- with ../postgres/0006_audit.sql. Conventions as in 0001.

-- One chain per lender (chain = the lender's id) and one for actions on no lender
-- ('platform'). Each row's hash covers its fields and the previous row's hash, so an edited,
-- deleted or reordered row breaks the chain at that point (`lienlock ctl audit verify`).
CREATE TABLE audit_log (
    chain      TEXT    NOT NULL,
    seq        INTEGER NOT NULL,           -- 1, 2, 3, ... within the chain
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,           -- key:<id>, user:<id>, operator
    role       TEXT    NOT NULL,
    address    TEXT    NOT NULL,           -- the client's address, or 'local' for ctl
    action     TEXT    NOT NULL,           -- e.g. 'POST /v1/devices/{id}/lock'
    object     TEXT    NOT NULL,           -- e.g. the request path with its ids
    reason     TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,           -- the HTTP status, or 'ok' for ctl
    request_id TEXT    NOT NULL,
    prev_hash  BLOB    NOT NULL,           -- 32 bytes; zeros before the first row
    hash       BLOB    NOT NULL,           -- 32 bytes
    PRIMARY KEY (chain, seq)
) STRICT;

-- The newest row of each chain: appends take this row first, which serializes them per
-- chain, and verification compares it with the last row (a deleted tail shows).
CREATE TABLE audit_heads (
    chain TEXT    NOT NULL PRIMARY KEY,
    seq   INTEGER NOT NULL,
    hash  BLOB    NOT NULL
) STRICT;

-- Append-only for the application. Someone who owns the database can drop these; the chain
-- is what catches them then.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
