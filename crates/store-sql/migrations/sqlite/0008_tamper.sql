-- Tamper signals. SQLite flavour; keep in step with ../postgres/0008_tamper.sql.
-- Conventions as in 0001. Depends on nothing after 0005.
--
-- What a device signals about attempts on it (a changed SIM, a clock set back, root or a
-- debugger, a burst of wrong codes) and what the server sees itself (a factory reset). A
-- device repeats a signal until a check-in is answered; the primary key is what makes the
-- repeat land once. The policy engine reads them (kind and recorded_at) for the lender's
-- tamper policy.
CREATE TABLE tamper_signals (
    lender_id    TEXT    NOT NULL,
    device_id    TEXT    NOT NULL,
    device_key   BLOB    NOT NULL, -- the bound key that reported it (32 bytes)
    kind         TEXT    NOT NULL, -- TamperKind's name: 'sim_changed', 'factory_reset', ...
    seq          INTEGER NOT NULL, -- the device's number for it; for a reset, the counter
    seen_wall    INTEGER NOT NULL, -- the device's wall clock when first seen (a claim)
    seen_trusted INTEGER NOT NULL, -- the device's trusted time when first seen (a claim)
    value        INTEGER NOT NULL, -- kind-specific
    recorded_at  INTEGER NOT NULL, -- server time
    PRIMARY KEY (device_id, device_key, kind, seq),
    FOREIGN KEY (lender_id, device_id) REFERENCES devices (lender_id, id)
) STRICT;

-- A batch of contracts' devices, each device's signals in order.
CREATE INDEX tamper_signals_device_recorded ON tamper_signals (device_id, recorded_at);
