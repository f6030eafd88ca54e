-- Installment contracts, the payments ledger, notices and disputes. PostgreSQL flavour;
-- keep in step with ../sqlite/0002_contracts.sql. Conventions as in 0001 (ids and other
-- compared text in COLLATE "C").

-- The automatic restriction the policy engine imposes (RestrictionLevel's wire code; 0 is
-- "none") and since when, and the last notice sequence number given to the device.
ALTER TABLE devices ADD COLUMN policy_level BIGINT NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN policy_level_since BIGINT NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN notice_seq BIGINT NOT NULL DEFAULT 0;

-- The lender's compliance profile and policy settings (PolicySettings as JSON; NULL for
-- the profile's defaults).
ALTER TABLE lenders ADD COLUMN compliance_profile TEXT NOT NULL DEFAULT 'default';
ALTER TABLE lenders ADD COLUMN policy TEXT;

CREATE TABLE contracts (
    id                 TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    lender_id          TEXT COLLATE "C" NOT NULL,
    device_id          TEXT COLLATE "C" NOT NULL,
    reference          TEXT COLLATE "C",          -- the lender's own, unique per lender
    currency           TEXT COLLATE "C" NOT NULL, -- the terms' currency, for SQL to compare
    terms              TEXT   NOT NULL, -- ContractTerms as JSON (its TermsSpec)
    policy             TEXT,            -- per-contract policy overrides as JSON; opaque
    state              TEXT   NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    next_evaluation_at BIGINT,          -- NULL exactly when closed
    version            BIGINT NOT NULL, -- optimistic concurrency, bumped by every save
    wake_seq           BIGINT NOT NULL, -- wake-ups recorded; see Store::insert_payment
    FOREIGN KEY (lender_id, device_id) REFERENCES devices (lender_id, id),
    -- Targets of the composite foreign keys below: a payment can only name its lender's
    -- contract, and a notice or dispute only its own device's.
    UNIQUE (lender_id, id),
    UNIQUE (lender_id, device_id, id)
);

-- At most one active contract per device.
CREATE UNIQUE INDEX contracts_active_device ON contracts (device_id) WHERE state = 'active';
CREATE UNIQUE INDEX contracts_reference ON contracts (lender_id, reference)
    WHERE reference IS NOT NULL;
-- The scheduler's query: active contracts by evaluation time. Partial, so closed contracts
-- cost nothing, and ordered like the query, so it reads only the due rows.
CREATE INDEX contracts_due ON contracts (next_evaluation_at, id) WHERE state = 'active';

CREATE TABLE payments (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    lender_id       TEXT COLLATE "C" NOT NULL REFERENCES lenders (id),
    contract_id     TEXT COLLATE "C",          -- NULL while unmatched
    kind            TEXT   NOT NULL,           -- 'payment' or 'reversal'
    reverses        TEXT COLLATE "C",          -- the payment a reversal undoes
    amount          BIGINT NOT NULL,           -- positive minor units
    currency        TEXT COLLATE "C" NOT NULL,
    received_at     BIGINT NOT NULL,
    recorded_at     BIGINT NOT NULL,
    channel         TEXT COLLATE "C" NOT NULL,
    external_ref    TEXT COLLATE "C",
    payer_hint      TEXT,
    idempotency_key TEXT COLLATE "C",
    request_hash    BYTEA  NOT NULL,
    assigned_at     BIGINT,
    FOREIGN KEY (lender_id, contract_id) REFERENCES contracts (lender_id, id),
    FOREIGN KEY (lender_id, reverses) REFERENCES payments (lender_id, id),
    UNIQUE (lender_id, id)
);

CREATE UNIQUE INDEX payments_idempotency ON payments (lender_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- A statement imported twice records nothing twice.
CREATE UNIQUE INDEX payments_external ON payments (lender_id, channel, external_ref)
    WHERE external_ref IS NOT NULL;
CREATE INDEX payments_contract ON payments (contract_id, received_at, id);
CREATE INDEX payments_unmatched ON payments (lender_id, id) WHERE contract_id IS NULL;

CREATE TABLE notices (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    lender_id    TEXT COLLATE "C" NOT NULL,
    device_id    TEXT COLLATE "C" NOT NULL,
    contract_id  TEXT COLLATE "C",
    seq          BIGINT NOT NULL, -- per device, from devices.notice_seq
    kind         TEXT   NOT NULL,
    message      TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    delivered_at BIGINT,
    FOREIGN KEY (lender_id, device_id) REFERENCES devices (lender_id, id),
    FOREIGN KEY (lender_id, device_id, contract_id)
        REFERENCES contracts (lender_id, device_id, id),
    UNIQUE (device_id, seq)
);

CREATE INDEX notices_contract ON notices (contract_id, seq);

CREATE TABLE disputes (
    id                     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    lender_id              TEXT COLLATE "C" NOT NULL,
    device_id              TEXT COLLATE "C" NOT NULL,
    contract_id            TEXT COLLATE "C",
    opened_by              TEXT   NOT NULL,
    reason                 TEXT   NOT NULL,
    opened_at              BIGINT NOT NULL,
    temporary_unlock_until BIGINT,
    closed_at              BIGINT,
    closed_by              TEXT,
    resolution             TEXT,
    FOREIGN KEY (lender_id, device_id) REFERENCES devices (lender_id, id),
    FOREIGN KEY (lender_id, device_id, contract_id)
        REFERENCES contracts (lender_id, device_id, id)
);

CREATE INDEX disputes_device ON disputes (device_id, opened_at, id);
CREATE INDEX disputes_contract ON disputes (contract_id, opened_at, id);
