-- The lender console: its users and their sign-in sessions, and what the portfolio views
-- read. PostgreSQL flavour; keep in step with ../sqlite/0005_console.sql. Conventions as
-- in 0001 (ids and other compared text in COLLATE "C").

-- People who sign in to the console. An e-mail address belongs to one lender's user, so
-- sign-in needs no lender name; it is stored lowercased.
CREATE TABLE users (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    lender_id     TEXT COLLATE "C" NOT NULL REFERENCES lenders (id),
    email         TEXT COLLATE "C" NOT NULL UNIQUE,
    name          TEXT   NOT NULL,
    role          TEXT COLLATE "C" NOT NULL, -- Role's name
    password_hash TEXT   NOT NULL,           -- argon2id, PHC string
    created_at    BIGINT NOT NULL,
    disabled_at   BIGINT,
    UNIQUE (lender_id, id)
);

-- Signed-in browsers. The cookie holds a random token; only its SHA-256 is stored, so a
-- copy of the database signs no one in. Revoked on sign-out, expiry, or user disabled.
CREATE TABLE console_sessions (
    token_hash   BYTEA  NOT NULL PRIMARY KEY,
    user_id      TEXT COLLATE "C" NOT NULL,
    lender_id    TEXT COLLATE "C" NOT NULL,
    csrf_token   TEXT   NOT NULL,            -- the session's anti-forgery token
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    FOREIGN KEY (lender_id, user_id) REFERENCES users (lender_id, id)
);

CREATE INDEX console_sessions_user ON console_sessions (user_id);

-- The account's arrears as the last evaluation saw them, kept on the device so the lock
-- screen, the device list's arrears filter and the dashboard's buckets need no ledger
-- replay: what is overdue (minor units of the contract's currency) and the due date of the
-- oldest unpaid installment (epoch ms; NULL when nothing is overdue).
ALTER TABLE devices ADD COLUMN arrears_amount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN arrears_currency TEXT COLLATE "C";
ALTER TABLE devices ADD COLUMN arrears_since BIGINT;

-- The device list's arrears filter walks (lender_id, arrears_since, id); the other columns
-- let the dashboard's buckets be counted from the index alone (reading each row from the
-- table took 2.3 s at a million devices: docs/benchmarks.md).
CREATE INDEX devices_lender_arrears
    ON devices (lender_id, arrears_since, id, state, arrears_currency, arrears_amount)
    WHERE arrears_since IS NOT NULL;
-- The dashboard's counts by kind over a period, and the device list's newest activity.
CREATE INDEX timeline_events_lender_kind_at ON timeline_events (lender_id, kind, at);
-- The payments chart's sums, from the index alone (3.2 s at a million devices otherwise).
CREATE INDEX payments_lender_received
    ON payments (lender_id, received_at, currency, kind, amount);
-- The dashboard's count of devices the policy engine restricts.
CREATE INDEX devices_lender_policy ON devices (lender_id, state, policy_level)
    WHERE policy_level <> 0;
