-- Webhooks to lenders: each lender's endpoint, the outbox of deliveries and every attempt
-- to send them. SQLite flavour; keep in step with ../postgres/0007_webhooks.sql.
-- Conventions as in 0001. Depends on 0001 and 0002 only.
--
-- A delivery is enqueued in the transaction of the change it reports, by the triggers at
-- the end: every timeline entry and every payment passes through its table's insert
-- whichever statement writes it (one row or a batch), so this is the one place that
-- cannot be bypassed. Which entry kinds send which webhook follows
-- lienlock_store::WebhookEvent::for_event; the conformance suite checks the two agree.

-- One endpoint per lender.
CREATE TABLE webhook_endpoints (
    lender_id     TEXT    NOT NULL PRIMARY KEY REFERENCES lenders (id),
    url           TEXT    NOT NULL, -- http or https
    -- NULL: every type. Otherwise the types sent, each between commas:
    -- ',device.locked,dispute.opened,'.
    event_types   TEXT,
    -- 'whsec_' and the base64 of 32 random bytes. Stored usable, since the server signs
    -- with it (docs/security.md, "Webhooks").
    secret        TEXT    NOT NULL,
    secret_set_at INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- The outbox: one row per message, kept after it is delivered (the console shows them).
CREATE TABLE webhook_deliveries (
    -- The webhook-id: the id of the timeline entry or payment reported.
    id              TEXT    NOT NULL PRIMARY KEY,
    lender_id       TEXT    NOT NULL REFERENCES lenders (id),
    event_type      TEXT    NOT NULL, -- WebhookEvent's name, e.g. 'device.locked'
    device_id       TEXT,
    event_id        TEXT REFERENCES timeline_events (id),
    payment_id      TEXT,
    created_at      INTEGER NOT NULL, -- when the reported change happened
    status          TEXT    NOT NULL, -- 'pending', 'delivered' or 'failed'
    attempts        INTEGER NOT NULL,
    -- When it is due; NULL once delivered or failed. A claim moves it to the end of the
    -- claim's lease, so a node that dies mid-attempt holds it only that long.
    next_attempt_at INTEGER,
    claim           TEXT,             -- token of the claim it is being sent under
    payload         TEXT,             -- the body as sent; NULL before the first attempt
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER,
    FOREIGN KEY (lender_id, device_id) REFERENCES devices (lender_id, id),
    FOREIGN KEY (lender_id, payment_id) REFERENCES payments (lender_id, id),
    -- The lender's list, newest first.
    UNIQUE (lender_id, id)
) STRICT;

-- The worker's query: pending deliveries by due time, through a partial index, so its
-- cost follows the due rows, not the history.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id)
    WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    delivery_id TEXT    NOT NULL REFERENCES webhook_deliveries (id),
    n           INTEGER NOT NULL, -- 1, 2, 3, ...
    at          INTEGER NOT NULL,
    status_code INTEGER,          -- the endpoint's HTTP status, if it answered
    error       TEXT,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, n)
) STRICT;

CREATE TRIGGER timeline_events_webhook AFTER INSERT ON timeline_events
WHEN NEW.kind IN ('locked', 'unlocked', 'released', 'tamper', 'tamper_reported',
                  'dispute_opened', 'imei_checked')
BEGIN
    INSERT INTO webhook_deliveries
        (id, lender_id, event_type, device_id, event_id, created_at, status, attempts,
         next_attempt_at)
    SELECT NEW.id, NEW.lender_id, t.event_type, NEW.device_id, NEW.id, NEW.at, 'pending', 0,
           NEW.at
    FROM (SELECT CASE NEW.kind
                     WHEN 'locked' THEN 'device.locked'
                     WHEN 'unlocked' THEN 'device.unlocked'
                     WHEN 'released' THEN 'device.released'
                     WHEN 'tamper' THEN 'device.tamper'
                     WHEN 'tamper_reported' THEN 'device.tamper'
                     WHEN 'dispute_opened' THEN 'dispute.opened'
                     WHEN 'imei_checked' THEN 'imei.checked'
                 END AS event_type) AS t
    JOIN webhook_endpoints w ON w.lender_id = NEW.lender_id
    WHERE w.event_types IS NULL OR instr(w.event_types, ',' || t.event_type || ',') > 0;
END;

-- A payment that matched no contract (a reversal is never unmatched on its own).
CREATE TRIGGER payments_webhook AFTER INSERT ON payments
WHEN NEW.contract_id IS NULL AND NEW.kind = 'payment'
BEGIN
    INSERT INTO webhook_deliveries
        (id, lender_id, event_type, payment_id, created_at, status, attempts,
         next_attempt_at)
    SELECT NEW.id, NEW.lender_id, 'payment.unmatched', NEW.id, NEW.recorded_at, 'pending', 0,
           NEW.recorded_at
    FROM webhook_endpoints w
    WHERE w.lender_id = NEW.lender_id
      AND (w.event_types IS NULL OR instr(w.event_types, ',payment.unmatched,') > 0);
END;
