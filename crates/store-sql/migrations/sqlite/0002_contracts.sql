-- Installment contracts, the payments ledger, notices and disputes. SQLite flavour; keep in
-- step with ../postgres/0002_contracts.sql. Conventions as in 0001.

-- The automatic restriction the policy engine imposes (RestrictionLevel's wire code; 0 is
-- "none") and since when, and the last notice sequence number given to the device.
ALTER TABLE devices ADD COLUMN policy_level INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN policy_level_since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN notice_seq INTEGER NOT NULL DEFAULT 0;

-- The lender's compliance profile and policy settings (PolicySettings as JSON; NULL for
-- the profile's defaults).
ALTER TABLE lenders ADD COLUMN compliance_profile TEXT NOT NULL DEFAULT 'default';
ALTER TABLE lenders ADD COLUMN policy TEXT;

CREATE TABLE contracts (
    id                 TEXT    NOT NULL PRIMARY KEY,
    lender_id          TEXT    NOT NULL,
    device_id          TEXT    NOT NULL,
    reference          TEXT,             -- the lender's own reference, unique per lender
    currency           TEXT    NOT NULL, -- the terms' currency, so SQL can compare payments
    terms              TEXT    NOT NULL, -- ContractTerms as JSON (its TermsSpec)
    policy             TEXT,             -- per-contract policy overrides as JSON; opaque
    state              TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    next_evaluation_at INTEGER,          -- NULL exactly when closed
    version            INTEGER NOT NULL, -- optimistic concurrency, bumped by every save
    wake_seq           INTEGER NOT NULL, -- wake-ups recorded; see Store::insert_payment
    FOREIGN KEY (lender_id, device_id) REFERENCES devices (lender_id, id),
    -- Targets of the composite foreign keys below: a payment can only name its lender's
    -- contract, and a notice or dispute only its own device's.
    UNIQUE (lender_id, id),
    UNIQUE (lender_id, device_id, id)
) STRICT;

-- At most one active contract per device.
CREATE UNIQUE INDEX contracts_active_device ON contracts (device_id) WHERE state = 'active';
CREATE UNIQUE INDEX contracts_reference ON contracts (lender_id, reference)
    WHERE reference IS NOT NULL;
-- The scheduler's query: active contracts by evaluation time. Partial, so closed contracts
-- cost nothing, and ordered like the query, so it reads only the due rows.
CREATE INDEX contracts_due ON contracts (next_evaluation_at, id) WHERE state = 'active';

CREATE TABLE payments (
    id              TEXT    NOT NULL PRIMARY KEY,
    lender_id       TEXT    NOT NULL REFERENCES lenders (id),
    contract_id     TEXT,             -- NULL while unmatched
    kind            TEXT    NOT NULL, -- 'payment' or 'reversal'
    reverses        TEXT,             -- the payment a reversal undoes
    amount          INTEGER NOT NULL, -- positive minor units
    currency        TEXT    NOT NULL,
    received_at     INTEGER NOT NULL,
    recorded_at     INTEGER NOT NULL,
    channel         TEXT    NOT NULL,
    external_ref    TEXT,
    payer_hint      TEXT,
    idempotency_key TEXT,
    request_hash    BLOB    NOT NULL,
    assigned_at     INTEGER,
    FOREIGN KEY (lender_id, contract_id) REFERENCES contracts (lender_id, id),
    FOREIGN KEY (lender_id, reverses) REFERENCES payments (lender_id, id),
    UNIQUE (lender_id, id)
) STRICT;

CREATE UNIQUE INDEX payments_idempotency ON payments (lender_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- A statement imported twice records nothing twice.
CREATE UNIQUE INDEX payments_external ON payments (lender_id, channel, external_ref)
    WHERE external_ref IS NOT NULL;
CREATE INDEX payments_contract ON payments (contract_id, received_at, id);
CREATE INDEX payments_unmatched ON payments (lender_id, id) WHERE contract_id IS NULL;

CREATE TABLE notices (
    id           TEXT    NOT NULL PRIMARY KEY,
    lender_id    TEXT    NOT NULL,
    device_id    TEXT    NOT NULL,
    contract_id  TEXT,
    seq          INTEGER NOT NULL, -- per device, from devices.notice_seq
    kind         TEXT    NOT NULL,
    message      TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER,
    FOREIGN KEY (lender_id, device_id) REFERENCES devices (lender_id, id),
    FOREIGN KEY (lender_id, device_id, contract_id)
        REFERENCES contracts (lender_id, device_id, id),
    UNIQUE (device_id, seq)
) STRICT;

CREATE INDEX notices_contract ON notices (contract_id, seq);

CREATE TABLE disputes (
    id                     TEXT    NOT NULL PRIMARY KEY,
    lender_id              TEXT    NOT NULL,
    device_id              TEXT    NOT NULL,
    contract_id            TEXT,
    opened_by              TEXT    NOT NULL,
    reason                 TEXT    NOT NULL,
    opened_at              INTEGER NOT NULL,
    temporary_unlock_until INTEGER,
    closed_at              INTEGER,
    closed_by              TEXT,
    resolution             TEXT,
    FOREIGN KEY (lender_id, device_id) REFERENCES devices (lender_id, id),
    FOREIGN KEY (lender_id, device_id, contract_id)
        REFERENCES contracts (lender_id, device_id, id)
) STRICT;

CREATE INDEX disputes_device ON disputes (device_id, opened_at, id);
CREATE INDEX disputes_contract ON disputes (contract_id, opened_at, id);
