-- Offline unlock codes. SQLite flavour; keep in step with ../postgres/0004_unlock_codes.sql.
-- Conventions as in 0001.
--
-- A phone that cannot reach the server still needs to learn that its owner paid: staff
-- read it a code the server minted for that device alone. Every code is kept, so a code
-- read out twice is the same code, and so the device's report of taking one can be checked.

-- The code format the device takes (CodeFormat's name). Not part of the Device record and
-- never written by device saves, so changing it does not race a check-in.
ALTER TABLE devices ADD COLUMN code_format TEXT NOT NULL DEFAULT 'lc1';

CREATE TABLE unlock_codes (
    id          TEXT    NOT NULL PRIMARY KEY,
    lender_id   TEXT    NOT NULL,
    device_id   TEXT    NOT NULL,
    format      TEXT    NOT NULL, -- CodeFormat: 'lc1' or 'openpaygo'
    counter     INTEGER NOT NULL, -- u32; per device and format, unique and increasing
    kind        TEXT    NOT NULL, -- CodeGrantKind: 'unlock' or 'extend_until'
    -- The civil date (UTC) the device runs until, as ISO 8601 text 'YYYY-MM-DD': readable
    -- in a query, and it sorts like the date.
    paid_until  TEXT    NOT NULL,
    code        TEXT    NOT NULL, -- as the borrower types it
    payment_id  TEXT,             -- the payment it came with; NULL for codes issued by hand
    issued_at   INTEGER NOT NULL,
    issued_by   TEXT    NOT NULL, -- Actor's text: 'api_key:<id>', 'operator', ...
    reason      TEXT,
    redeemed_at INTEGER,          -- the check-in that reported the device took it
    -- Composite, as elsewhere: a code can only name its own lender's device and payment.
    FOREIGN KEY (lender_id, device_id) REFERENCES devices (lender_id, id),
    FOREIGN KEY (lender_id, payment_id) REFERENCES payments (lender_id, id),
    -- Two nodes minting at once cannot hand out one counter twice; also serves the
    -- highest-counter lookup and redemption by counter.
    UNIQUE (device_id, format, counter)
) STRICT;

-- A payment brings at most one code: a retried request gets the first one back.
CREATE UNIQUE INDEX unlock_codes_payment ON unlock_codes (payment_id)
    WHERE payment_id IS NOT NULL;
-- A device's codes, newest first.
CREATE INDEX unlock_codes_device_issued ON unlock_codes (device_id, issued_at);
