-- Webhooks to lenders: each lender's endpoint, the outbox of deliveries and every attempt
-- to send them. PostgreSQL flavour; keep in step with ../sqlite/0007_webhooks.sql.
-- Conventions as in 0001 (ids and other compared text in COLLATE "C"). Depends on 0001
-- and 0002 only.
--
-- A delivery is enqueued in the transaction of the change it reports, by the triggers at
-- the end: every timeline entry and every payment passes through its table's insert
-- whichever statement writes it (one row or a batch), so this is the one place that
-- cannot be bypassed. Which entry kinds send which webhook follows
-- lienlock_store::WebhookEvent::for_event; the conformance suite checks the two agree.

-- One endpoint per lender.
CREATE TABLE webhook_endpoints (
    lender_id     TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES lenders (id),
    url           TEXT   NOT NULL, -- http or https
    -- NULL: every type. Otherwise the types sent, each between commas:
    -- ',device.locked,dispute.opened,'.
    event_types   TEXT COLLATE "C",
    -- 'whsec_' and the base64 of 32 random bytes. Stored usable, since the server signs
    -- with it (docs/security.md, "Webhooks").
    secret        TEXT   NOT NULL,
    secret_set_at BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- The outbox: one row per message, kept after it is delivered (the console shows them).
CREATE TABLE webhook_deliveries (
    -- The webhook-id: the id of the timeline entry or payment reported.
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    lender_id       TEXT COLLATE "C" NOT NULL REFERENCES lenders (id),
    event_type      TEXT COLLATE "C" NOT NULL, -- WebhookEvent's name, e.g. 'device.locked'
    device_id       TEXT COLLATE "C",
    event_id        TEXT COLLATE "C" REFERENCES timeline_events (id),
    payment_id      TEXT COLLATE "C",
    created_at      BIGINT NOT NULL, -- when the reported change happened
    status          TEXT COLLATE "C" NOT NULL, -- 'pending', 'delivered' or 'failed'
    attempts        BIGINT NOT NULL,
    -- When it is due; NULL once delivered or failed. A claim moves it to the end of the
    -- claim's lease, so a node that dies mid-attempt holds it only that long.
    next_attempt_at BIGINT,
    claim           TEXT COLLATE "C",          -- token of the claim it is being sent under
    payload         TEXT,                      -- the body as sent; NULL before the first attempt
    last_status     BIGINT,
    last_error      TEXT,
    delivered_at    BIGINT,
    FOREIGN KEY (lender_id, device_id) REFERENCES devices (lender_id, id),
    FOREIGN KEY (lender_id, payment_id) REFERENCES payments (lender_id, id),
    -- The lender's list, newest first.
    UNIQUE (lender_id, id)
);

-- The worker's query: pending deliveries by due time, through a partial index, so its
-- cost follows the due rows, not the history.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id)
    WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    delivery_id TEXT COLLATE "C" NOT NULL REFERENCES webhook_deliveries (id),
    n           BIGINT NOT NULL, -- 1, 2, 3, ...
    at          BIGINT NOT NULL,
    status_code BIGINT,          -- the endpoint's HTTP status, if it answered
    error       TEXT,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, n)
);

CREATE FUNCTION webhook_enqueue_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_type TEXT := CASE NEW.kind
        WHEN 'locked' THEN 'device.locked'
        WHEN 'unlocked' THEN 'device.unlocked'
        WHEN 'released' THEN 'device.released'
        WHEN 'tamper' THEN 'device.tamper'
        WHEN 'tamper_reported' THEN 'device.tamper'
        WHEN 'dispute_opened' THEN 'dispute.opened'
        WHEN 'imei_checked' THEN 'imei.checked'
    END;
BEGIN
    INSERT INTO webhook_deliveries
        (id, lender_id, event_type, device_id, event_id, created_at, status, attempts,
         next_attempt_at)
    SELECT NEW.id, NEW.lender_id, v_type, NEW.device_id, NEW.id, NEW.at, 'pending', 0, NEW.at
    FROM webhook_endpoints w
    WHERE w.lender_id = NEW.lender_id
      AND (w.event_types IS NULL OR strpos(w.event_types, ',' || v_type || ',') > 0);
    RETURN NULL;
END
$$;

-- The WHEN clause keeps the function from running for the other kinds (most of a
-- scheduler pass's entries).
CREATE TRIGGER timeline_events_webhook AFTER INSERT ON timeline_events
FOR EACH ROW
WHEN (NEW.kind IN ('locked', 'unlocked', 'released', 'tamper', 'tamper_reported',
                   'dispute_opened', 'imei_checked'))
EXECUTE FUNCTION webhook_enqueue_event();

-- A payment that matched no contract (a reversal is never unmatched on its own).
CREATE FUNCTION webhook_enqueue_payment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries
        (id, lender_id, event_type, payment_id, created_at, status, attempts,
         next_attempt_at)
    SELECT NEW.id, NEW.lender_id, 'payment.unmatched', NEW.id, NEW.recorded_at, 'pending', 0,
           NEW.recorded_at
    FROM webhook_endpoints w
    WHERE w.lender_id = NEW.lender_id
      AND (w.event_types IS NULL OR strpos(w.event_types, ',payment.unmatched,') > 0);
    RETURN NULL;
END
$$;

CREATE TRIGGER payments_webhook AFTER INSERT ON payments
FOR EACH ROW
WHEN (NEW.contract_id IS NULL AND NEW.kind = 'payment')
EXECUTE FUNCTION webhook_enqueue_payment();
